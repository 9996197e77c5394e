"""The flow engine's tables: flows and their versions, runs, each step's outcome, messages,
engagement, suppressions, attributed conversions and survey answers.

Effects a shopper sees have natural keys the database enforces:
- a run is unique per (flow, trigger key): a redelivered or replayed trigger starts nothing;
- a step's outcome is unique per (run, step): an award, a code or a tag happens once;
- a message is unique per (run, step): at most one email per step of a run, whatever crashes
  or retries (the row is written before the send; see `app.flows.sending`);
- a conversion is unique per order: an order is attributed once, to one flow and step.

Due times live in `flow_runs.due_at`, so a lost queue loses no step: the sweep
(`jobs.flows.sweep_due`) finds what is due.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow
from app.profiles.models import JsonType, Money

# Flow status (the API's `status`).
DRAFT, LIVE, PAUSED = "draft", "live", "paused"
FLOW_STATUSES = (DRAFT, LIVE, PAUSED)
# Flow category: marketing mail needs consent and counts for smart sending.
MARKETING, TRANSACTIONAL = "marketing", "transactional"

# Run status.
RUN_ACTIVE = "active"  # has a next step, due at `due_at`
RUN_COMPLETED = "completed"  # went through its last step
RUN_EXITED = "exited"  # stopped by an exit condition, a filter, unsubscribe...; see `exit_reason`
RUN_STATUSES = (RUN_ACTIVE, RUN_COMPLETED, RUN_EXITED)

# Step outcome (flow_run_steps.status).
STEP_DONE, STEP_SKIPPED, STEP_HOLDOUT = "done", "skipped", "holdout"

# Message status (the API's `status`).
QUEUED, SENDING, SENT, SKIPPED, FAILED, SUPPRESSED = (
    "queued", "sending", "sent", "skipped", "failed", "suppressed")
MESSAGE_STATUSES = (QUEUED, SENDING, SENT, SKIPPED, FAILED, SUPPRESSED)


class Flow(Base):
    """A flow as it is now. Each save of its definition makes a new `FlowVersion`; a run
    records the version it started on and runs on it to the end (app/flows/service.py)."""

    __tablename__ = "flows"
    __table_args__ = (UniqueConstraint("shop_id", "key"),
                      Index("ix_flows_shop_status", "shop_id", "status"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # Built-ins: "welcome", "abandoned_checkout", ...; NULL for the merchant's own flows.
    key: Mapped[str | None] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    category: Mapped[str] = mapped_column(String(16), default=MARKETING)
    # The definition of the current version (trigger, filters, steps, policy): see
    # app/flows/definition.py. The same dict as `FlowVersion.definition` of `version`.
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)
    holdout_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Re-entry: NULL = a shopper enters once ever; N = at most once per N days; 0 = every
    # time the flow is triggered (each trigger still starts one run: notices).
    reentry_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FlowVersion(Base):
    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)
    saved_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowRun(Base):
    """One shopper's way through one flow, started by one trigger."""

    __tablename__ = "flow_runs"
    __table_args__ = (
        # A trigger starts one run, however often it is delivered or replayed.
        UniqueConstraint("flow_id", "trigger_key"),
        # The sweep: active runs by due time.
        Index("ix_flow_runs_due", "status", "due_at"),
        Index("ix_flow_runs_customer", "customer_id", "flow_id"),
        Index("ix_flow_runs_shop_flow", "shop_id", "flow_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # What started it, unique per flow: e.g. "checkout:<token>", "event:<id>", "birthday:2026".
    trigger_key: Mapped[str] = mapped_column(String(160))
    # The trigger's facts the steps and exit conditions read (event data, checkout and cart
    # tokens, order id, the email at entry...).
    context: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=RUN_ACTIVE)
    # The id of the next step to run (NULL once finished).
    step_id: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(Text)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FlowRunStep(Base):
    """What happened at one step of one run: done, skipped (with why) or held out."""

    __tablename__ = "flow_run_steps"
    __table_args__ = (UniqueConstraint("run_id", "step_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("flow_runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(32))
    step_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    # What the step made: {"code": ...}, {"points": ...}, {"branch": "yes"}, ...
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """One email: written (queued) before it is handed to the mail server, so a crash can
    never send it twice; `status` and `reason` say what became of it."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("run_id", "step_id"),
        Index("ix_messages_customer", "customer_id", "created_at"),
        Index("ix_messages_shop_flow", "shop_id", "flow_id", "created_at"),
        Index("ix_messages_status", "status", "sending_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # NULL for a test send from the editor.
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("flow_runs.id", ondelete="CASCADE"))
    step_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16), default=MARKETING)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    to_email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    reason: Mapped[str | None] = mapped_column(Text)
    # The RFC 5322 Message-ID header it was sent with.
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set (and committed) just before the mail server is given the message: a message left
    # `sending` by a crash is never sent again (app/flows/delivery.py documents the rule).
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMail(Base):
    """Without SMTP_URL, mail is kept here (the panel's outbox) instead of being sent."""

    __tablename__ = "outbox_mail"

    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"),
                                         index=True)
    # The whole MIME message as it would have gone out (headers, HTML and text parts).
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailEngagement(Base):
    """An open or a click of a flow email (every one; the message keeps the first)."""

    __tablename__ = "email_engagements"
    __table_args__ = (Index("ix_email_engagements_customer", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "open" | "click"
    url: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailSuppression(Base):
    """An address no flow mails again in this store: a hard SMTP refusal (5xx) or a
    complaint. Shown in the panel; the merchant can lift it."""

    __tablename__ = "email_suppressions"
    __table_args__ = (UniqueConstraint("shop_id", "email_normalized"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email_normalized: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowConversion(Base):
    """An order attributed, last touch, to the flow email clicked or opened before it."""

    __tablename__ = "flow_conversions"
    __table_args__ = (UniqueConstraint("order_id"),
                      Index("ix_flow_conversions_flow", "shop_id", "flow_id", "placed_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("flow_runs.id", ondelete="SET NULL"))
    step_id: Mapped[str | None] = mapped_column(String(32))
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"))
    touch: Mapped[str] = mapped_column(String(8))  # "click" | "open"
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revenue: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SurveyResponse(Base):
    """A feedback email's answer: one click gives the score, a comment may follow."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("message_pk"),
                      Index("ix_survey_responses_shop", "shop_id", "answered_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flows.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(String(8))  # "nps" (0-10) | "csat" (1-5)
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
