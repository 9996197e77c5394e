"""A flow's dry run over the shop's own recent past: who would have entered, been filtered,
been kept out by the re-entry rule or held out, left early and why, been skipped by smart
sending or for lack of consent, and reached or been sent each step. It writes nothing: no
run, no message, no job (only SELECTs; `candidates` functions must be read-only too).

How the past is replayed:
- **Triggers.** Event triggers: the shop's timeline rows of the trigger's kinds over the
  last `days` days (a timeline row is a domain event as the shop's log keeps it, one per
  shopper, kind and ref), oldest first. Date and lapsed triggers: the flow's candidate
  finder (`app.flows.candidates.dates` / `lapsed`) asked once per day of the period, each
  trigger key counted once; without such a finder the answer says "not available for this
  trigger" rather than counting zero.
- **Entry**, in the engine's order (app/flows/entry.py): profile not deleted, trigger
  filters, flow filters, re-entry rule (against the flow's real runs from before the period
  and the simulated ones in it), then the holdout draw. The draw is a stable hash of the
  flow and the trigger key, so a backtest gives the same answer twice; `held_out_expected`
  is entrants × holdout percent.
- **Steps**, in simulated time from the trigger: waits move the clock (a run whose clock
  passes `now` is `in_progress`); before each step the run exits as the engine's
  `exit_reason` would: the profile deleted by then, an order placed by then (flows that stop
  on an order: by the checkout's or cart's token, or by the shopper since the trigger, the
  trigger's own order excepted), unsubscribed by then (marketing flows).
- **Email steps**: consent (marketing flows need `subscribed`; others follow `send_to`), the
  suppression list, then smart sending: another marketing email to the shopper within
  `smart_sending_hours` before, whether this flow's own simulated one or a real message of
  another flow. Quiet hours only delay a send, so they change no count and are ignored. A
  held-out run walks its steps (they count as reached) and is sent nothing.

Approximations (said in the answer's `approximations`): filters and splits are checked with
today's profile (orders count, tags, consent...) and the trigger's own facts, since past
profile states are not kept; a consent change is dated by the profile's last consent update.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.customers.models import CustomerTag
from app.flows import conditions
from app.flows.definition import Plan, trigger_events, walk
from app.flows.models import MARKETING, SENT, Flow, FlowRun, Message
from app.flows.models import EmailSuppression as Suppression
from app.flows.segment_filters import segment_ids_of
from app.profiles.models import SUBSCRIBED, UNSUBSCRIBED, Customer, Order, TimelineEvent
from app.segments.membership import members_among
from app.settings.service import read_settings
from app.settings.timezone import zone_or_none
from app.shops.models import Shop

CART_TRIGGERS = frozenset({"checkout_started", "cart_abandoned"})
ORDER_PLACED, UNSUBSCRIBED_REASON, CUSTOMER_DELETED = (
    "order placed", "unsubscribed", "customer deleted")
NOT_AVAILABLE = "not available for this trigger"
APPROXIMATIONS = [
    "filters and splits use today's profile (orders, tags, consent) with the trigger's facts",
    "a consent change is dated by the profile's last consent update (who unsubscribed "
    "was subscribed until then)",
    "quiet hours delay sends and are not simulated",
]
CHUNK = 5000


@dataclass(frozen=True)
class Trigger:
    customer_id: int
    key: str
    at: datetime
    event: dict[str, Any]
    checkout_token: str | None = None
    cart_token: str | None = None


@dataclass
class _World:
    """What the store holds that the simulation reads, loaded in a few batched queries."""

    customers: dict[int, Customer] = field(default_factory=dict)
    tags: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    orders: list[Order] = field(default_factory=list)
    real_sends: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    last_entry: dict[int, datetime] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    # customer id -> the saved segments (of those the flow names) it is in now
    segments: dict[int, set[int]] = field(default_factory=dict)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _event_triggers(session: Session, flow: Flow, kinds: frozenset[str], since: datetime,
                    now: datetime) -> list[Trigger]:
    rows = session.execute(
        select(TimelineEvent.customer_id, TimelineEvent.kind, TimelineEvent.ref,
               TimelineEvent.occurred_at, TimelineEvent.data)
        .where(TimelineEvent.shop_id == flow.shop_id, TimelineEvent.kind.in_(kinds),
               TimelineEvent.occurred_at > since, TimelineEvent.occurred_at <= now)
        .order_by(TimelineEvent.occurred_at, TimelineEvent.id))
    triggers = []
    for row in rows:
        checkout = cart = None
        if row.kind == "checkout_started":
            checkout = row.ref
        elif row.kind == "cart_abandoned":
            kind, _, token = row.ref.partition(":")
            checkout, cart = (token, None) if kind == "checkout" else (None, token)
        triggers.append(Trigger(row.customer_id, f"event:{row.kind}:{row.ref}",
                                row.occurred_at, dict(row.data or {}), checkout, cart))
    return triggers


def _candidate_triggers(session: Session, flow: Flow, trigger: dict[str, Any],
                        since: datetime, now: datetime, days: int) -> list[Trigger] | None:
    """Candidates asked day by day (None: no finder for this trigger type)."""
    from app.flows import candidates

    finder = getattr(candidates, {"date": "dates", "lapsed": "lapsed"}.get(
        trigger.get("type"), ""), None)
    if finder is None:
        return None
    seen: set[str] = set()
    found = []
    for n in range(days - 1, -1, -1):
        day = now - timedelta(days=n)
        for candidate in finder(session, flow.shop_id, trigger, day):
            if candidate.trigger_key not in seen:
                seen.add(candidate.trigger_key)
                found.append(Trigger(candidate.customer_id, candidate.trigger_key, day,
                                     dict(candidate.context or {})))
    return found


def _load(session: Session, flow: Flow, triggers: list[Trigger], since: datetime,
          now: datetime, smart_hours: int) -> _World:
    world = _World()
    ids = sorted({t.customer_id for t in triggers})
    shop_id = flow.shop_id
    for chunk in _chunks(ids):
        world.customers.update((c.id, c) for c in session.scalars(select(Customer).where(
            Customer.shop_id == shop_id, Customer.id.in_(chunk))))
        for customer_id, tag in session.execute(select(
                CustomerTag.customer_id, CustomerTag.tag_normalized).where(
                CustomerTag.shop_id == shop_id, CustomerTag.customer_id.in_(chunk))):
            world.tags[customer_id].add(tag)
        world.orders.extend(session.scalars(select(Order).where(
            Order.shop_id == shop_id, Order.customer_id.in_(chunk), Order.test.is_(False),
            Order.placed_at > since, Order.placed_at <= now)))
        for customer_id, sent_at in session.execute(select(
                Message.customer_id, Message.sent_at).where(
                Message.shop_id == shop_id, Message.customer_id.in_(chunk),
                Message.flow_id != flow.id, Message.test.is_(False),
                Message.status == SENT, Message.category == MARKETING,
                Message.sent_at > since - timedelta(hours=smart_hours),
                Message.sent_at <= now)):
            world.real_sends[customer_id].append(sent_at)
        for customer_id, entered in session.execute(select(
                FlowRun.customer_id, func.max(FlowRun.entered_at)).where(
                FlowRun.shop_id == shop_id, FlowRun.flow_id == flow.id,
                FlowRun.customer_id.in_(chunk), FlowRun.entered_at <= since)
                .group_by(FlowRun.customer_id)):
            world.last_entry[customer_id] = entered
    tokens = [t for tr in triggers for t in (tr.checkout_token, tr.cart_token) if t]
    known = {o.id for o in world.orders}
    for chunk in [tokens[i:i + CHUNK] for i in range(0, len(tokens), CHUNK)]:
        world.orders.extend(o for o in session.scalars(select(Order).where(
            Order.shop_id == shop_id, Order.test.is_(False), Order.placed_at <= now,
            or_(Order.checkout_token.in_(chunk), Order.cart_token.in_(chunk))))
            if o.id not in known)
    emails = sorted({c.email_normalized for c in world.customers.values()
                     if c.email_normalized})
    for chunk in [emails[i:i + CHUNK] for i in range(0, len(emails), CHUNK)]:
        world.suppressed.update(session.scalars(select(Suppression.email_normalized).where(
            Suppression.shop_id == shop_id, Suppression.email_normalized.in_(chunk))))
    for sends in world.real_sends.values():
        sends.sort()
    # Segment filters and splits use today's membership, as they use today's profile.
    for chunk in _chunks(ids):
        for customer_id, inside in members_among(
                session, shop_id, segment_ids_of(flow.definition), chunk, now).items():
            world.segments[customer_id] = inside
    return world


class _Simulation:
    def __init__(self, flow: Flow, definition: dict[str, Any], world: _World, now: datetime,
                 smart_hours: int, zone: Any) -> None:
        self.flow, self.definition, self.world, self.now = flow, definition, world, now
        self.plan = Plan(definition)
        self.smart = timedelta(hours=smart_hours)
        self.zone = zone
        self.marketing = flow.category == MARKETING
        self.stops_on_order = bool(definition.get("exit_on_order")) or bool(
            trigger_events(definition) & CART_TRIGGERS)
        self.orders_by: dict[Any, list[Order]] = defaultdict(list)
        for order in world.orders:
            self.orders_by[order.customer_id].append(order)
            for token in {order.checkout_token, order.cart_token} - {None}:
                self.orders_by[("token", token)].append(order)
        self.entries: dict[int, datetime] = dict(world.last_entry)
        self.sends: dict[int, list[datetime]] = defaultdict(list)
        self.counts: Counter[str] = Counter()
        self.exited: Counter[str] = Counter()
        self.steps = {s["id"]: {"id": s["id"], "type": s["type"], "reached": 0, "sent": 0}
                      for s in walk(definition.get("steps", []))}

    def facts(self, customer: Customer, event: dict[str, Any]) -> conditions.Facts:
        profile = conditions.profile_facts(customer, self.now)
        profile["tags"] = sorted(set(profile["tags"]) | self.world.tags.get(customer.id, set()))
        profile[conditions.SEGMENT_FIELD] = self.world.segments.get(customer.id, set())
        return conditions.Facts(profile, event)

    def trigger(self, trigger: Trigger) -> None:
        self.counts["triggered"] += 1
        customer = self.world.customers.get(trigger.customer_id)
        if customer is None or (customer.deleted_at is not None
                                and customer.deleted_at <= trigger.at):
            self.counts["filtered"] += 1
            return
        facts = self.facts(customer, trigger.event)
        if not (conditions.evaluate(self.definition.get("trigger_filters") or [], facts)
                and conditions.evaluate(self.definition.get("flow_filters") or [], facts)):
            self.counts["filtered"] += 1
            return
        last = self.entries.get(customer.id)
        days = self.flow.reentry_days
        if last is not None and days != 0 and (
                days is None or last > trigger.at - timedelta(days=days)):
            self.counts["reentry_blocked"] += 1
            return
        self.entries[customer.id] = trigger.at
        self.counts["entered"] += 1
        held = self._held_out(trigger.key)
        self.counts["held_out"] += held
        self._walk(customer, trigger, facts, held)

    def _held_out(self, key: str) -> bool:
        percent = self.flow.holdout_percent or 0
        digest = hashlib.sha256(f"{self.flow.id}:{key}".encode()).digest()
        return percent > 0 and int.from_bytes(digest[:4], "big") % 10000 < percent * 100

    def _exit(self, customer: Customer, trigger: Trigger, at: datetime) -> str | None:
        if customer.deleted_at is not None and customer.deleted_at <= at:
            return CUSTOMER_DELETED
        if self.stops_on_order:
            own = trigger.event.get("order_id")
            for order in self._orders_for(customer.id, trigger):
                if order.id == own or order.placed_at > at:
                    continue
                by_token = ((trigger.checkout_token and order.checkout_token
                             == trigger.checkout_token)
                            or (trigger.cart_token and order.cart_token == trigger.cart_token))
                if by_token or (order.customer_id == customer.id
                                and order.placed_at >= trigger.at):
                    return ORDER_PLACED
        if self.marketing and customer.email_marketing == UNSUBSCRIBED and (
                customer.email_marketing_updated_at is None
                or customer.email_marketing_updated_at <= at):
            return UNSUBSCRIBED_REASON
        return None

    def _orders_for(self, customer_id: int, trigger: Trigger) -> list[Order]:
        found = list(self.orders_by.get(customer_id, []))
        for token in (trigger.checkout_token, trigger.cart_token):
            if token:
                found.extend(self.orders_by.get(("token", token), []))
        return found

    def _walk(self, customer: Customer, trigger: Trigger, facts: conditions.Facts,
              held: bool) -> None:
        at = trigger.at
        step_id = self.plan.first()
        while step_id is not None:
            if at > self.now:
                self.counts["in_progress"] += 1
                return
            reason = self._exit(customer, trigger, at)
            if reason is not None:
                self.exited[reason] += 1
                return
            step = self.plan.step(step_id)
            self.steps[step_id]["reached"] += 1
            if step["type"] == "wait":
                at = self._after_wait(step, at)
            elif step["type"] == "split":
                branch = "yes" if conditions.evaluate(step["condition"], facts) else "no"
                step_id = self.plan.branch(step_id, branch)
                continue
            elif step["type"] == "email" and not held:
                self._email(customer, step_id, at)
            step_id = self.plan.after(step_id)
        self.counts["completed"] += 1

    def _after_wait(self, step: dict[str, Any], at: datetime) -> datetime:
        if "until" not in step:
            return at + timedelta(minutes=step.get("minutes", 0))
        hour, minute = (int(part) for part in step["until"].split(":"))
        local = at.astimezone(self.zone)
        target = datetime.combine(local.date(), time(hour, minute), tzinfo=self.zone)
        if target <= local:
            target = datetime.combine(local.date() + timedelta(days=1), time(hour, minute),
                                      tzinfo=self.zone)
        return target.astimezone(at.tzinfo)

    def _email(self, customer: Customer, step_id: str, at: datetime) -> None:
        send_to = self.definition.get("send_to", "subscribed")
        consent = _consent_at(customer, at)
        consented = (consent == SUBSCRIBED if send_to == "subscribed" or self.marketing
                     else consent != UNSUBSCRIBED)
        if not customer.email or not consented:
            self.counts["no_consent"] += 1
            return
        if customer.email_normalized in self.world.suppressed:
            self.counts["suppressed"] += 1
            return
        if self.marketing and self.definition.get("smart_sending", True) and self.smart:
            if (self._near(self.sends.get(customer.id, []), at)
                    or self._near(self.world.real_sends.get(customer.id, []), at)):
                self.counts["smart_sending_skipped"] += 1
                return
        insort(self.sends[customer.id], at)
        self.steps[step_id]["sent"] += 1

    def _near(self, sends: list[datetime], at: datetime) -> bool:
        """Whether a send in `sends` (sorted) falls in the smart-sending window before `at`."""
        i = bisect_left(sends, at - self.smart)
        return i < len(sends) and sends[i] <= at


def _consent_at(customer: Customer, at: datetime) -> str:
    """The shopper's consent at `at`, as far as the profile tells: today's, except that a
    shopper who unsubscribed after `at` was subscribed until then."""
    changed = customer.email_marketing_updated_at
    if customer.email_marketing == UNSUBSCRIBED and changed is not None and changed > at:
        return SUBSCRIBED
    return customer.email_marketing


def run(session: Session, flow: Flow, now: datetime, days: int = 30) -> dict[str, Any]:
    """The dry run's counts: {"days", "triggered", "entered", "filtered",
    "reentry_blocked", "held_out", "held_out_expected", "exited": {reason: n}, "completed",
    "in_progress", "smart_sending_skipped", "no_consent", "suppressed", "steps": [{"id",
    "type", "reached", "sent"}], "available", "reason", "approximations"}. Writes nothing."""
    definition = flow.definition
    since = now - timedelta(days=days)
    shop = session.get(Shop, flow.shop_id)
    settings = read_settings(session, shop)
    trigger = definition.get("trigger") or {}
    if trigger.get("type") == "event":
        triggers = _event_triggers(session, flow, trigger_events(definition), since, now)
    else:
        triggers = _candidate_triggers(session, flow, trigger, since, now, days)
    world = _load(session, flow, triggers or [], since, now, settings.smart_sending_hours)
    sim = _Simulation(flow, definition, world, now, settings.smart_sending_hours,
                      zone_or_none(settings.timezone) or zone_or_none("UTC"))
    for item in triggers or []:
        sim.trigger(item)
    counts = sim.counts
    return {
        "flow_id": flow.id, "days": days, "from": since.isoformat(), "to": now.isoformat(),
        "trigger": trigger.get("type"), "available": triggers is not None,
        "reason": None if triggers is not None else NOT_AVAILABLE,
        **{name: counts[name] for name in (
            "triggered", "entered", "filtered", "reentry_blocked", "held_out", "completed",
            "in_progress", "smart_sending_skipped", "no_consent", "suppressed")},
        "held_out_expected": round(counts["entered"] * (flow.holdout_percent or 0) / 100, 1),
        "exited": dict(sim.exited),
        "steps": list(sim.steps.values()),
        "approximations": APPROXIMATIONS + ([] if trigger.get("type") == "event" else [
            "candidates of each day are found from today's profiles (an order placed since "
            "then already counts)"]),
    }
