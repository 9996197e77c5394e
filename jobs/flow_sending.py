"""The delivery job of a flow email (app/flows/sending.py has the exactly-once rule). Ids in,
never objects; enqueued after the message's row is committed, with a retry that is safe
because a delivery after the claim never sends again."""

from __future__ import annotations

import logging

from app.flows import sending
from jobs.context import app_context

log = logging.getLogger(__name__)


def send_message(message_pk: int) -> dict:
    with app_context():
        status = sending.deliver(int(message_pk))
    log.info("flows.send.delivered", extra={"message_pk": message_pk, "status": status})
    return {"message_pk": message_pk, "status": status}
