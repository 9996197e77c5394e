"""The customer profile's "Flows" card: the shopper's flow runs (flow, status, why it
stopped, next step due) and every flow email written for them (subject, status, reason,
sent / opened / clicked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.flows import history
from app.flows.models import EmailSuppression, FlowRun, Message

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

    def message_badge(self, message: Message) -> tuple[str, Any]:
        status = history.api_status(message.status)
        return MESSAGE_BADGES.get(status, (status, None))

    def run_badge(self, run: FlowRun) -> tuple[str, Any]:
        badge = RUN_BADGES.get(run.status, (run.status, None))
        return ("Held out", None) if run.holdout and run.status == "active" else badge


def flows_card(session: Session, shop_id: int, customer_id: int,
               email: str | None = None) -> FlowsCard:
    from app.panel.flow_suppressions import suppression_for

    return FlowsCard(
        suppression=suppression_for(session, shop_id, email),
        runs=history.runs(session, shop_id, customer_id, limit=RUNS_SHOWN),
        messages=history.messages(session, shop_id, customer_id=customer_id,
                                  limit=MESSAGES_SHOWN),
        names=history.flow_names(session, shop_id))
