"""Reading a privacy or lifecycle request: its body, who it is about, and why it failed.

Shopify sends the same body for a request however often it is retried, so a body that
cannot be read ends the request `failed` with the reason (`RequestError`), audited, and is
not retried. Fields are read with their types checked, like the connectors' payloads.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError

from app.inbox import failures
from connectors import fields
from connectors.records import PayloadError


class RequestError(PayloadError):
    """A lifecycle delivery whose body cannot be acted on (not JSON, no customer)."""


def read_body(raw: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError("body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise RequestError("body is not a JSON object")
    if b"\\u0000" in raw:
        payload = fields.without_nul(payload)  # as the mirror stores names and emails
    return payload


def customer_ref(payload: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(platform id, email, phone) of the customer the request names."""
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise RequestError("request has no `customer` object")
    cid = fields.ident(customer.get("id"), "customer.id")
    email = fields.text(customer.get("email"), "customer.email")
    phone = fields.text(customer.get("phone"), "customer.phone")
    if cid is None and not email:
        raise RequestError("request names neither a customer id nor an email")
    return cid, email, phone


def id_list(values: Any, key: str) -> list[str]:
    """The platform ids listed under `key` (`orders_to_redact`); not a list reads as none."""
    if not isinstance(values, list):
        return []
    return [i for n, v in enumerate(values) if (i := fields.ident(v, f"{key}[{n}]"))]


def failure_reason(exc: Exception) -> str:
    """The request's own fault in its words; for anything else only the kind of failure,
    since an error's text may quote the personal data the request is about."""
    if isinstance(exc, PayloadError):
        return failures.clean(str(exc))
    if isinstance(exc, DBAPIError):
        return failures.clean(f"could not act on the request: the database refused it: "
                              f"{failures.database_message(exc)}")
    return f"could not act on the request: unexpected {type(exc).__name__}"
