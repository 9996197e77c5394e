"""The table of what the loyalty subscriber does per event kind.

Each part of the program registers its handlers with `@on(kind, ...)` in its own module, and
that module is listed in `app/loyalty/handlers.py`, which the subscriber imports.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.events import DomainEvent

Handler = Callable[[Session, DomainEvent], None]

# kind -> handlers, in registration order.
HANDLERS: dict[str, list[Handler]] = {}


def on(*kinds: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS.setdefault(kind, []).append(handler)
        return handler
    return register
