"""Signed tokens in email links: open pixel, click redirect, unsubscribe, survey answer.

A token carries only the message's id (and, for a click, the link; for a survey, the score),
signed with SECRET_KEY under a salt per kind, so a token of one kind is never accepted as
another, and a token reveals nothing about anyone but can only be made by Sticky.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

KINDS = ("open", "click", "unsubscribe", "survey")


class TokenInvalid(ValueError):
    pass


def _serializer(kind: str) -> URLSafeSerializer:
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"sticky.email.{kind}")


def sign(kind: str, payload: Any) -> str:
    return _serializer(kind).dumps(payload)


def load(kind: str, token: str) -> Any:
    """The payload, or TokenInvalid (a link mangled, or of another kind)."""
    try:
        return _serializer(kind).loads(token)
    except BadSignature as exc:
        raise TokenInvalid("this link is not valid (it may have been cut or changed)") from exc


def url(kind: str, payload: Any) -> str:
    """The public URL of a token: /t/o/<token>, /t/c/<token>, /unsubscribe/<token>,
    /t/s/<token>."""
    path = {"open": "t/o", "click": "t/c", "unsubscribe": "unsubscribe", "survey": "t/s"}[kind]
    return f"{current_app.config['APP_URL'].rstrip('/')}/{path}/{sign(kind, payload)}"
