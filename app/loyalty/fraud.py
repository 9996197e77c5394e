"""Referral fraud checks: is the "friend" really someone new, and someone other than the
advocate?

The checks (at least those the leading loyalty apps document, e.g. Smile's "preventing
referral fraud": similar emails, 10 referrals a week from one IP, not a first order, an
order by the advocate or by someone of the same name):

- at claim time (`claim_reason`): the friend's email is the advocate's, or nearly
  (`similar_emails`); the friend gave the advocate's name; the friend is already a customer
  (a counted order, or a registered account, from before the referral); this is the
  `referral_weekly_ip_limit`-th referral (10 by default) from one IP address in 7 days;
- again when the friend's order is paid (`order_reason`): the order is the advocate's own;
  it is not the friend's first order, or the friend had ordered before the referral; the
  friend's profile has the advocate's name; the order ships or bills to an address one of the
  advocate's orders used (compared by fingerprint: Sticky keeps no addresses).

Each returns a sentence for the merchant (shown with the blocked referral) or None. The
friend is never shown these sentences.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.loyalty.models import Referral
from app.profiles.models import Customer, Order

IP_WINDOW = timedelta(days=7)
GMAIL_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Local parts shorter than this may differ by one edit only ("al" and "bo" are two people).
SHORT_LOCAL = 5
NOT_COUNTED = ("voided",)  # financial states of orders that never were a purchase


def canonical_email(email: str | None) -> str | None:
    """The mailbox an address delivers to, as far as can be told: lower case, without a
    `+tag`, and for Gmail without the dots it ignores (googlemail.com is gmail.com). Also the
    key of `loyalty_referrals.friend_email_normalized`: a friend is one friend however they
    spell their address."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if domain in GMAIL_DOMAINS:
        domain = GMAIL_DOMAINS[domain]
        local = local.replace(".", "")
    if not local or not domain:
        return None
    return f"{local}@{domain}"


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or `limit + 1` as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def similar_emails(a: str | None, b: str | None) -> bool:
    """The same mailbox (`canonical_email`), or the same domain with local parts at most two
    edits apart (one, when the shorter is under five characters)."""
    ca, cb = canonical_email(a), canonical_email(b)
    if ca is None or cb is None:
        return False
    if ca == cb:
        return True
    local_a, _, domain_a = ca.rpartition("@")
    local_b, _, domain_b = cb.rpartition("@")
    if domain_a != domain_b:
        return False
    limit = 2 if min(len(local_a), len(local_b)) >= SHORT_LOCAL else 1
    return edit_distance(local_a, local_b, limit) <= limit


def normalized_name(first: str | None, last: str | None) -> str | None:
    """First and last name folded for comparison (case, accents, punctuation and spaces
    ignored); None unless both are given: a first name alone is shared by too many."""
    parts = []
    for part in (first, last):
        folded = unicodedata.normalize("NFKD", part or "").casefold()
        letters = "".join(ch for ch in folded if not unicodedata.combining(ch))
        letters = "".join(re.findall(r"[^\W\d_]+", letters))
        if not letters:
            return None
        parts.append(letters)
    return " ".join(parts)


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in ((first or "").strip(), (last or "").strip()) if p)


@dataclass(frozen=True)
class Advocate:
    id: int
    email: str | None
    first_name: str | None
    last_name: str | None


def advocate(session: Session, shop_id: int, customer_id: int) -> Advocate | None:
    row = session.execute(select(Customer.id, Customer.email, Customer.first_name,
                                 Customer.last_name)
                          .where(Customer.shop_id == shop_id, Customer.id == customer_id)
                          ).first()
    return None if row is None else Advocate(*row)


def _email_reason(adv: Advocate, friend_email: str) -> str | None:
    if canonical_email(adv.email) == canonical_email(friend_email):
        return "The friend's email is the advocate's own email address."
    if similar_emails(adv.email, friend_email):
        return (f"The friend's email ({friend_email}) is nearly the same as the advocate's "
                f"({adv.email}).")
    return None


def _name_reason(adv: Advocate, first: str | None, last: str | None) -> str | None:
    name = normalized_name(first, last)
    if name is not None and name == normalized_name(adv.first_name, adv.last_name):
        return f"The friend has the advocate's name ({_full_name(first, last)})."
    return None


def _counted_orders():
    return (Order.cancelled_at.is_(None), Order.test.is_(False),
            or_(Order.financial_status.is_(None), Order.financial_status.not_in(NOT_COUNTED)))


def existing_customer_reason(session: Session, shop_id: int, emails: set[str],
                             before: datetime) -> str | None:
    """Whether a profile with one of these emails had ordered, or had a registered account,
    before `before` (when the referral was made)."""
    emails = {e for e in emails if e}
    if not emails:
        return None
    profiles = session.execute(
        select(Customer.id, Customer.platform_customer_id, Customer.platform_created_at)
        .where(Customer.shop_id == shop_id, Customer.email_normalized.in_(emails))).all()
    ids = [p.id for p in profiles]
    if ids:
        first_order = session.execute(
            select(func.min(Order.placed_at)).where(Order.shop_id == shop_id,
                                                    Order.customer_id.in_(ids),
                                                    Order.placed_at < before,
                                                    *_counted_orders())).scalar()
        if first_order is not None:
            return (f"The friend is already a customer: they ordered on "
                    f"{first_order:%Y-%m-%d}, before this referral.")
    for p in profiles:
        if p.platform_customer_id and p.platform_created_at and p.platform_created_at < before:
            return (f"The friend is already a customer: they have had an account since "
                    f"{p.platform_created_at:%Y-%m-%d}, before this referral.")
    return None


def ip_reason(session: Session, shop_id: int, ip: str | None, now: datetime,
              limit: int) -> str | None:
    """The `limit`-th referral (or later) from one IP address within 7 days."""
    if not ip:
        return None
    earlier = session.execute(select(func.count()).select_from(Referral).where(
        Referral.shop_id == shop_id, Referral.ip == ip,
        Referral.created_at > now - IP_WINDOW)).scalar() or 0
    if earlier + 1 >= limit:
        return (f"This is referral number {earlier + 1} from the IP address {ip} within 7 "
                f"days; from the {limit}th on, referrals from one address are held for "
                "review.")
    return None


def claim_reason(session: Session, shop_id: int, adv: Advocate, *, email: str,
                 first_name: str | None, last_name: str | None, ip: str | None,
                 now: datetime, ip_limit: int) -> str | None:
    """Why a friend's claim looks fraudulent, or None. Checked in order of certainty."""
    simple = email.strip().lower()
    return (_email_reason(adv, email)
            or _name_reason(adv, first_name, last_name)
            or existing_customer_reason(session, shop_id, {simple, canonical_email(email) or ""},
                                        now)
            or ip_reason(session, shop_id, ip, now, ip_limit))


def order_reason(session: Session, shop_id: int, adv: Advocate, order: Order,
                 friend_id: int | None, referral_created_at: datetime) -> str | None:
    """Why the friend's paid `order` must not reward the advocate, or None."""
    label = order.name or f"order {order.platform_order_id}"
    if friend_id == adv.id:
        return f"The advocate placed {label} themselves."
    if order.email and (reason := _email_reason(adv, order.email)):
        return reason
    if order.placed_at < referral_created_at:
        return f"{label} was placed before the friend claimed the referral."
    friend = session.get(Customer, friend_id) if friend_id else None
    if friend is not None:
        if reason := _name_reason(adv, friend.first_name, friend.last_name):
            return reason
        earlier = session.execute(select(Order.name, Order.placed_at).where(
            Order.shop_id == shop_id, Order.customer_id == friend_id, Order.id != order.id,
            Order.placed_at <= order.placed_at, *_counted_orders())
            .order_by(Order.placed_at).limit(1)).first()
        if earlier is not None:
            return (f"{label} is not the friend's first order: they ordered on "
                    f"{earlier.placed_at:%Y-%m-%d} ({earlier.name or 'an earlier order'}).")
    addresses = {h for h in (order.shipping_address_hash, order.billing_address_hash) if h}
    if addresses:
        shared = session.execute(select(Order.name).where(
            Order.shop_id == shop_id, Order.customer_id == adv.id,
            or_(Order.shipping_address_hash.in_(addresses),
                Order.billing_address_hash.in_(addresses))).limit(1)).first()
        if shared is not None:
            return (f"{label} ships or bills to the same address as the advocate's order "
                    f"{shared.name or ''}".rstrip() + ".")
    return None
