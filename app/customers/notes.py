"""Merchant notes and tags on a profile: add a note, add a tag, remove a tag.

Each change is stored and written to the customer's timeline in the same transaction
(`timeline_events`, kinds `note_added`, `tag_added`, `tag_removed`; `ref` is "note:<id>" or
"tag:<id>", unique per row), so the profile's history shows who did what and when. These
rows are the merchant's, not facts from the store: they are not published as domain events.

Functions take the customer already checked to belong to the caller's store, commit nothing
and raise `InvalidInput` (with the field it is about) for a value that cannot be stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.customers.models import MAX_NOTE_LENGTH, MAX_TAG_LENGTH, CustomerNote, CustomerTag
from app.db import insert_for, utcnow
from app.profiles.models import Customer, TimelineEvent

NOTE_ADDED, TAG_ADDED, TAG_REMOVED = "note_added", "tag_added", "tag_removed"
API_AUTHOR = "API"


class InvalidInput(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def note_body(raw: object) -> str:
    """A note as stored: trimmed, 1..MAX_NOTE_LENGTH characters."""
    if not isinstance(raw, str):
        raise InvalidInput("body", "Write the note as text.")
    body = raw.strip()
    if "\x00" in body:
        raise InvalidInput("body", "The note contains a NUL character, which text cannot hold.")
    if not body:
        raise InvalidInput("body", "Write something in the note.")
    if len(body) > MAX_NOTE_LENGTH:
        raise InvalidInput("body", f"Keep the note to {MAX_NOTE_LENGTH:,} characters "
                                   f"(this one has {len(body):,}).")
    return body


def normalize_tag(text: str) -> str:
    """The form tags are compared in: inner runs of spaces made one, trimmed, lower case."""
    return re.sub(r"\s+", " ", text).strip().lower()


def tag_text(raw: object) -> str:
    """A tag as stored: trimmed, inner runs of spaces made one, 1..MAX_TAG_LENGTH characters,
    no comma (commas separate tags in exports and in the stores' own tag lists)."""
    if not isinstance(raw, str):
        raise InvalidInput("tag", "Write the tag as text.")
    tag = re.sub(r"\s+", " ", raw).strip()
    if any(ord(ch) < 32 for ch in tag):
        raise InvalidInput("tag", "A tag cannot contain control characters.")
    if not tag:
        raise InvalidInput("tag", "Enter a tag.")
    if max(len(tag), len(normalize_tag(tag))) > MAX_TAG_LENGTH:  # "İ" lowers to 2 characters
        raise InvalidInput("tag", f"Keep the tag to {MAX_TAG_LENGTH} characters "
                                  f"(this one has {len(tag)}).")
    if "," in tag:
        raise InvalidInput("tag", "A tag cannot contain a comma: add each tag on its own.")
    return tag


def _lock(session: Session, customer: Customer) -> None:
    # Holds off a privacy erasure of this profile until the change commits: the erasure then
    # deletes what was added, instead of this insert failing on a vanished profile.
    session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())


def _timeline(session: Session, customer: Customer, kind: str, ref: str,
              data: dict[str, Any]) -> None:
    session.add(TimelineEvent(shop_id=customer.shop_id, customer_id=customer.id, kind=kind,
                              ref=ref, occurred_at=utcnow(), data=data))


def add_note(session: Session, customer: Customer, body: object, author: str) -> CustomerNote:
    text = note_body(body)
    _lock(session, customer)
    note = CustomerNote(shop_id=customer.shop_id, customer_id=customer.id, body=text,
                        author=author, created_at=utcnow())
    session.add(note)
    session.flush()
    _timeline(session, customer, NOTE_ADDED, f"note:{note.id}",
              {"note_id": note.id, "author": author, "body": text})
    session.flush()
    return note


@dataclass(frozen=True)
class TagResult:
    tag: CustomerTag
    created: bool  # False: the customer already had this tag (in any letter case)


def add_tag(session: Session, customer: Customer, raw: object, author: str) -> TagResult:
    """Tag a customer; adding a tag they already have (in any case) changes nothing."""
    tag = tag_text(raw)
    _lock(session, customer)
    table = CustomerTag.__table__
    inserted = session.execute(
        insert_for(session, table)
        .values(shop_id=customer.shop_id, customer_id=customer.id, tag=tag,
                tag_normalized=normalize_tag(tag), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["customer_id", "tag_normalized"])
        .returning(table.c.id)
    ).scalar()
    row = session.execute(select(CustomerTag).where(
        CustomerTag.customer_id == customer.id,
        CustomerTag.tag_normalized == normalize_tag(tag))
    ).scalar_one()
    if inserted is not None:
        _timeline(session, customer, TAG_ADDED, f"tag:{row.id}",
                  {"tag_id": row.id, "tag": row.tag, "author": author})
        session.flush()
    return TagResult(row, inserted is not None)


def find_tag(session: Session, customer: Customer, *, tag_id: int | None = None,
             text: str | None = None) -> CustomerTag | None:
    """One of the customer's tags, by id or by its text (any case)."""
    query = select(CustomerTag).where(CustomerTag.shop_id == customer.shop_id,
                                      CustomerTag.customer_id == customer.id)
    if tag_id is not None:
        query = query.where(CustomerTag.id == tag_id)
    else:
        query = query.where(CustomerTag.tag_normalized == normalize_tag(text or ""))
    return session.execute(query).scalar_one_or_none()


def remove_tag(session: Session, customer: Customer, tag: CustomerTag, author: str) -> None:
    _lock(session, customer)
    removed = session.execute(delete(CustomerTag).where(CustomerTag.id == tag.id,
                                                        CustomerTag.customer_id == customer.id)
                              ).rowcount
    if removed:
        _timeline(session, customer, TAG_REMOVED, f"tag:{tag.id}",
                  {"tag_id": tag.id, "tag": tag.tag, "author": author})
        session.flush()
