"""The customer profile's "Flows" card: the shopper's flow runs (flow, status, why it
stopped, next step due) and every flow email written for them (subject, status, reason,
sent / opened / clicked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.customers.display import TimelineItem
from app.flows import history
from app.flows.models import EmailSuppression, FlowRun, Message, OutboxMail

RUNS_SHOWN = 20
MESSAGES_SHOWN = 50
RUN_BADGES = {"active": ("Active", "info"), "completed": ("Completed", "success"),
              "exited": ("Exited", None)}
MESSAGE_BADGES = {"queued": ("Queued", "info"), "sent": ("Sent", "success"),
                  "skipped": ("Skipped", "attention"), "failed": ("Failed", "critical"),
                  "suppressed": ("Suppressed", "critical")}


@dataclass(frozen=True)
class FlowsCard:
    runs: list[tuple[FlowRun, str]]
    messages: list[Message]
    names: dict[int, str]
    suppression: EmailSuppression | None = None
    in_outbox: frozenset[int] = frozenset()  # messages kept in the outbox (no SMTP_URL)

    def message_badge(self, message: Message) -> tuple[str, Any]:
        status = history.api_status(message.status)
        return MESSAGE_BADGES.get(status, (status, None))

    def run_badge(self, run: FlowRun) -> tuple[str, Any]:
        badge = RUN_BADGES.get(run.status, (run.status, None))
        return ("Held out", None) if run.holdout and run.status == "active" else badge


def flows_card(session: Session, shop_id: int, customer_id: int,
               email: str | None = None) -> FlowsCard:
    from app.panel.flow_suppressions import suppression_for

    messages = history.messages(session, shop_id, customer_id=customer_id,
                                limit=MESSAGES_SHOWN)
    kept = session.scalars(select(OutboxMail.message_pk).where(
        OutboxMail.shop_id == shop_id, OutboxMail.message_pk.in_([m.id for m in messages])))
    return FlowsCard(
        suppression=suppression_for(session, shop_id, email),
        in_outbox=frozenset(kept),
        runs=history.runs(session, shop_id, customer_id, limit=RUNS_SHOWN),
        messages=messages,
        names=history.flow_names(session, shop_id))


MESSAGE_WORDS = {"queued": "queued", "sent": "sent", "skipped": "skipped",
                 "failed": "not delivered", "suppressed": "not sent (address suppressed)"}


def timeline_items(card: FlowsCard) -> list[TimelineItem]:
    """The shopper's flow emails as timeline rows: sent (or why not), opened, clicked."""
    items: list[TimelineItem] = []
    for m in card.messages:
        if m.test:
            continue
        flow = card.names.get(m.flow_id, "a flow")
        subject = f"“{m.subject}”" if m.subject else "an email"
        status = history.api_status(m.status)
        items.append(TimelineItem(
            when=m.sent_at or m.created_at, kind="flow_email",
            title=f"Flow email {subject} from {flow}: {MESSAGE_WORDS.get(status, status)}",
            detail=m.reason if status != "sent" else None))
        for when, what in ((m.opened_at, "Opened"), (m.clicked_at, "Clicked a link in")):
            if when:
                items.append(TimelineItem(when=when, kind="flow_email",
                                          title=f"{what} the flow email {subject}"))
    return items


def with_flow_emails(timeline: list[TimelineItem], card: FlowsCard) -> list[TimelineItem]:
    """The profile's timeline (newest first) with the shopper's flow emails in their place."""
    return sorted([*timeline, *timeline_items(card)], key=lambda item: item.when,
                  reverse=True)
