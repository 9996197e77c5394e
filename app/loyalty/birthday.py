"""A shopper's birthday, which they give in the rewards widget, and its bonus.

(Contract; built by the tiers and expiry work.)
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session


class BirthdayRefused(ValueError):
    """Why this birthday cannot be saved, as a sentence for the shopper."""


def set_birthday(session: Session, shop_id: int, customer_id: int, birthday: date) -> None:
    """Save the member's birthday (raises BirthdayRefused). Does not commit."""
    raise NotImplementedError
