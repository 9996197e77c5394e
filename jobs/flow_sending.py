"""The delivery jobs of flow emails (app/flows/delivery.py has the exactly-once rule). Ids in,
never objects; enqueued after the messages' rows are committed, with a retry that is safe
because a delivery after the claim never sends again."""

from __future__ import annotations

import logging
from collections import Counter

from app.db import db
from app.flows import delivery
from jobs.context import app_context

log = logging.getLogger(__name__)


def send_messages(message_pks: list[int]) -> dict:
    """Deliver a batch of messages in one worker process, on one database and one mail
    server connection (`delivery.deliver_many`: claimed a chunk at a time). If the batch
    stops on an error, each message it had not decided is delivered on its own, so one
    message's trouble does not hold the others back."""
    outcomes: Counter = Counter()
    errors = []
    with app_context():
        connection = db.engine.connect()
        try:
            try:
                statuses = delivery.deliver_many([int(pk) for pk in message_pks],
                                                connection=connection)
            except Exception:  # noqa: BLE001 - delivered one by one below
                log.exception("flows.send.batch_error", extra={"count": len(message_pks)})
                statuses = {}
                connection.close()  # it may be broken
                connection = db.engine.connect()
                for pk in message_pks:
                    try:
                        statuses[int(pk)] = delivery.deliver(int(pk), connection=connection)
                    except Exception as exc:  # noqa: BLE001 - the others still go out
                        log.exception("flows.send.error", extra={"message_pk": pk})
                        errors.append(exc)
                        connection.close()
                        connection = db.engine.connect()
            outcomes.update(statuses.values())
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
        status = delivery.deliver(int(message_pk))
    return {"message_pk": message_pk, "status": status}
