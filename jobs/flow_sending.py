"""The delivery jobs of flow emails (app/flows/sending.py has the exactly-once rule). Ids in,
never objects; enqueued after the messages' rows are committed, with a retry that is safe
because a delivery after the claim never sends again."""

from __future__ import annotations

import logging
from collections import Counter

from app.db import db
from app.flows import sending
from jobs.context import app_context

log = logging.getLogger(__name__)


def send_messages(message_pks: list[int]) -> dict:
    """Deliver a batch of messages in one worker process, on one mail server connection."""
    outcomes: Counter = Counter()
    errors = []
    with app_context():
        connection = db.engine.connect()
        try:
            for pk in message_pks:
                try:
                    outcomes[sending.deliver(int(pk), connection=connection)] += 1
                except Exception as exc:  # noqa: BLE001 - the others still go out
                    log.exception("flows.send.error", extra={"message_pk": pk})
                    errors.append(exc)
                    connection.close()  # it may be broken: the next message gets a new one
                    connection = db.engine.connect()
        finally:
            connection.close()
    if errors:
        # Retrying the batch is safe: its delivered messages are left as they are.
        raise errors[0]
    log.info("flows.send.delivered", extra={"count": len(message_pks),
                                            "outcomes": dict(outcomes)})
    return {"delivered": len(message_pks), "outcomes": dict(outcomes)}


def send_message(message_pk: int) -> dict:
    """Deliver one message (the same rule; for a message enqueued on its own)."""
    with app_context():
        status = sending.deliver(int(message_pk))
    return {"message_pk": message_pk, "status": status}
