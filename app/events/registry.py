"""Subscribers by name, bound to the app at start.

`create_app` calls `init_app`, which takes the list in `app/subscribers.py` (or, for tests and
tools, `EVENT_SUBSCRIBERS` in the factory's config). A subscriber's name is its identity in
the database (its cursors): renaming one makes a new subscriber.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.orm import Session

from app.events.domain import KINDS, DomainEvent
from app.events.models import START_AT_BEGINNING, START_AT_END

EXTENSION = "sticky.events"
NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

Handler = Callable[[Session, DomainEvent], None]
BatchHandler = Callable[[Session, list[DomainEvent]], None]
# merge(session, shop_id, guest_id, into_id): a guest profile is merged into a registered one
# (inside the profile store's transaction, before the guest's row is deleted).
MergeHook = Callable[[Session, int, int, int], None]


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A named handler of domain events.

    `handler(session, event)` runs inside the dispatcher's transaction, which also moves the
    subscriber's cursor past the event: it writes its effects through `session` and must not
    commit or roll back (raise instead: the event's effects are rolled back and it is tried
    again later). It may see an event again after a replay, so effects are keyed by a
    natural key (the event's `id`, or e.g. shop + order + rule for an award).

    `kinds`: the event kinds it wants (None: all); the others pass it by.
    `start`: where a subscriber new to the database starts in each shop's log: "end" (the
    default: only what is recorded from then on; the past is reached by replay) or
    "beginning" (every stored event).
    `merge`: moves what the subscriber keeps about a guest profile onto the registered
    profile it is merged into, in the profile store's transaction (the guest's row is then
    deleted, and rows that reference it with ON DELETE CASCADE with it).
    `batch_handler(session, events)`: optional, for speed. It is handed the wanted events of
    one dispatch batch at once, in log order, in one savepoint, and must leave exactly the
    effects `handler` would leave handling them one by one. If it raises, its savepoint is
    rolled back and the same events go to `handler` one at a time, each in its own
    savepoint, so a failure still stops the cursor at the exact failing event. It must keep
    no state of its own past a call that raised.
    """

    name: str
    handler: Handler
    kinds: frozenset[str] | None = None
    start: str = START_AT_END
    merge: MergeHook | None = None
    batch_handler: BatchHandler | None = None

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"subscriber name {self.name!r}: use lowercase letters, digits, "
                             "'_', '.', '-', starting with a letter, at most 64 characters")
        if self.start not in (START_AT_END, START_AT_BEGINNING):
            raise ValueError(f"subscriber {self.name}: start must be "
                             f"{START_AT_END!r} or {START_AT_BEGINNING!r}")
        if self.kinds is not None:
            object.__setattr__(self, "kinds", frozenset(self.kinds))
            unknown = self.kinds - KINDS
            if unknown:
                raise ValueError(f"subscriber {self.name}: unknown event kinds "
                                 f"{sorted(unknown)}")

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


class Registry:
    """The app's subscribers, in the order they are dispatched."""

    def __init__(self, subscribers: Iterable[Subscriber]) -> None:
        self._by_name: dict[str, Subscriber] = {}
        for subscriber in subscribers:
            if not isinstance(subscriber, Subscriber):
                raise TypeError(f"not a Subscriber: {subscriber!r}")
            if subscriber.name in self._by_name:
                raise ValueError(f"two subscribers are named {subscriber.name!r}")
            self._by_name[subscriber.name] = subscriber

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Subscriber | None:
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._by_name)


def init_app(app: Flask, default: tuple[Subscriber, ...] = ()) -> None:
    """Bind the subscribers: the app's `EVENT_SUBSCRIBERS` setting if given (tests), else
    `default` (create_app passes app/subscribers.py's list, so this package imports no
    subscriber)."""
    subscribers = app.config.get("EVENT_SUBSCRIBERS")
    app.extensions[EXTENSION] = Registry(default if subscribers is None else subscribers)


def registry(app: Flask | None = None) -> Registry:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions[EXTENSION]
