"""The loyalty benchmark's deliveries: Shopify webhooks that move points, for many members.

Every delivery is one ledger-affecting domain event once the profile store has applied it:

- `orders/paid` (85%): a new order of one member, paid, with the member's customer record
  embedded as Shopify sends it; published as `order_paid` (with `order_placed`, and
  `customer_created` the first time the member is seen, which the program also reads);
- `refunds/create` (10%): a partial refund of an earlier order of the stream (5.00 to
  50.00, never more than its total); published as `refund_created`;
- `orders/cancelled` (5%): an earlier order, cancelled and voided; published as
  `order_cancelled`.

Payloads are the published samples varied by `benchmarks/payloads/shopify.py`. The stream is
generated lazily, in order, so a million deliveries never sit in memory at once; the first
`members` orders go to every member once (so each one is a member), the rest to members
drawn at random. Refunds and cancellations draw from the most recent orders not yet
refunded or cancelled (a return comes within weeks), at least MIN_AGE deliveries old.
Plain Python: no test-only package.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from benchmarks.payloads import shopify as shopify_payloads
from benchmarks.workload import FIRST_NAMES, LAST_NAMES

PAID, REFUND, CANCEL = "orders/paid", "refunds/create", "orders/cancelled"
MIX = ((PAID, 0.85), (REFUND, 0.10), (CANCEL, 0.05))
SPAN_MINUTES = 180 * 24 * 60  # the stream covers half a year after payloads.shopify.BASE_TIME
RECENT_ORDERS = 50_000  # refunds and cancellations reach this far back
# ... and no nearer: an order paid and cancelled within one drain batch (500 deliveries) is
# applied as the cancelled order it ends as, without an `order_paid` fact.
MIN_AGE = 1_000


@dataclass(slots=True)
class Delivery:
    topic: str
    key: str  # X-Shopify-Webhook-Id: the inbox's delivery key
    body: bytes


@dataclass
class Tally:
    """What the stream holds so far (for the summary and the checks)."""

    topics: Counter = field(default_factory=Counter)
    members_seen: set[int] = field(default_factory=set)
    refunded: int = 0
    cancelled: int = 0


class OrderTemplate:
    """`payloads.shopify.order_payload(...)` for paid or cancelled orders, built by copying
    one parsed sample instead of parsing the sample again per order (most of the cost of a
    million deliveries). Equal to `order_payload`'s result for the same arguments (tested)."""

    def __init__(self) -> None:
        self._paid = shopify_payloads.order_payload(financial_status="paid")
        self._cancelled = shopify_payloads.order_payload(cancelled=True)

    def build(self, *, order_id: int, customer: dict | None, email: str, total: str,
              placed: float, updated: float, quantity: int = 1, cancelled: bool = False,
              checkout_token: str | None = None) -> dict:
        p = shopify_payloads
        base = self._cancelled if cancelled else self._paid
        price = Decimal(total) / quantity
        line = {**base["line_items"][0], "id": p.next_id(), "quantity": quantity,
                "price": str(price), "price_set": _money(price)}
        money = _money(total)
        return {
            **base, "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#{order_id % 100000}", "email": email, "contact_email": email,
            "created_at": p.ts(placed), "processed_at": p.ts(placed),
            "updated_at": p.ts(updated), "cancelled_at": p.ts(updated) if cancelled else None,
            "total_price": total, "total_price_set": money, "current_total_price": total,
            "current_total_price_set": money, "subtotal_price": total,
            "subtotal_price_set": money, "line_items": [line],
            "checkout_token": checkout_token, "customer": customer,
        }


def _money(amount: Decimal | str) -> dict:
    value = str(amount)
    return {"shop_money": {"amount": value, "currency_code": "USD"},
            "presentment_money": {"amount": value, "currency_code": "USD"}}


class LoyaltyStream:
    """`events` deliveries for `members` members, reproducible from `seed`."""

    def __init__(self, events: int, members: int, *, seed: int = 7) -> None:
        if events < 1 or members < 1:
            raise ValueError("events and members must be at least 1")
        self.events, self.members, self.seed = events, members, seed
        self.tally = Tally()

    def __iter__(self) -> Iterator[Delivery]:
        p = shopify_payloads
        rng = random.Random(self.seed)  # noqa: S311 - reproducible workload, not security
        topics = [t for t, _ in MIX]
        weights = [w for _, w in MIX]
        step = SPAN_MINUTES / self.events
        first_order = list(range(self.members))
        rng.shuffle(first_order)
        customer_ids = [p.next_id() for _ in range(self.members)]
        names = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(self.members)]
        template = p.customer_payload(updated=0)
        orders = OrderTemplate()
        # (order id, member, total, placed): orders that may still be refunded or cancelled.
        recent: list[tuple[int, int, str, float]] = []
        maturing: deque[tuple[int, tuple[int, int, str, float]]] = deque()
        tally = self.tally
        paid = 0

        def customer(member: int) -> dict:
            first, last = names[member]
            cid = customer_ids[member]
            return {**template, "id": cid, "admin_graphql_api_id": f"gid://shopify/Customer/{cid}",
                    "email": f"member{member + 1}@example.com", "first_name": first,
                    "last_name": last, "created_at": p.ts(0), "updated_at": p.ts(0)}

        def take_recent() -> tuple[int, int, str, float]:
            i = rng.randrange(len(recent))
            recent[i], recent[-1] = recent[-1], recent[i]
            return recent.pop()

        for n in range(self.events):
            clock = n * step
            while maturing and maturing[0][0] <= n - MIN_AGE:
                recent.append(maturing.popleft()[1])
                if len(recent) > RECENT_ORDERS:
                    recent.pop(0)
            topic = rng.choices(topics, weights)[0]
            if topic != PAID and (len(recent) < 100 or paid < self.members):
                topic = PAID  # the early stream makes every member first
            if topic == PAID:
                member = first_order[paid] if paid < self.members else rng.randrange(
                    self.members)
                order_id = p.next_id()
                total = f"{rng.randint(15, 400)}.{rng.randint(0, 99):02d}"
                payload = orders.build(
                    order_id=order_id, customer=customer(member),
                    email=f"member{member + 1}@example.com", total=total, placed=clock,
                    updated=clock, quantity=rng.randint(1, 3),
                    checkout_token=uuid.UUID(int=rng.getrandbits(128)).hex)
                paid += 1
                tally.members_seen.add(member)
                maturing.append((n, (order_id, member, total, clock)))
            elif topic == REFUND:
                order_id, member, total, placed = take_recent()
                amount = f"{min(float(total), rng.randint(5, 50)):.2f}"
                payload = p.refund_payload(order_id=order_id, amount=amount,
                                           refund_id=p.next_id(), minutes=clock)
                tally.refunded += 1
            else:
                order_id, member, total, placed = take_recent()
                payload = orders.build(
                    order_id=order_id, customer=customer(member),
                    email=f"member{member + 1}@example.com", total=total, placed=placed,
                    updated=clock, cancelled=True)
                tally.cancelled += 1
            tally.topics[topic] += 1
            yield Delivery(topic, str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                           orjson.dumps(payload))
