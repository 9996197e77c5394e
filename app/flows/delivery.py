"""Delivering a flow's queued emails, exactly once (`app.flows.sending` queues them).

The rule. A message is a row before it is anything else: `queue_email` writes it under its
unique (run, step), so a step run twice, a redelivered trigger or a retried job finds the
same row. `deliver` then moves it through these states, each change committed on its own:

    queued ──▶ claim (the message's and the shopper's rows locked FOR UPDATE; exit
               conditions, consent, suppression and smart sending checked again; rendered;
               committed) ──▶ sending ──hand to the mail server (or the outbox)──▶
               sent | suppressed | failed

- Only a `queued` message is ever claimed, and the claim is a committed state change, so two
  workers (a double enqueue, a retry) cannot both send: the second finds `sending` or later.
- A crash before the claim leaves `queued`: the job's retry, or the sweep's `requeue_stale`
  (Redis lost the job), delivers it later, once.
- A crash after the claim leaves `sending`, and nobody can know whether the server took it.
  Such a message is never sent again: `resolve_unknown` marks it failed, "outcome unknown
  after a worker stopped; not resent", after `UNKNOWN_AFTER`. One possibly missing email is
  the price of never sending two.
- A hard refusal (5xx) suppresses the address for every later send in the store, visibly; a
  soft one (4xx, timeout, connection lost) marks the message failed with the reason. Neither
  is resent automatically (no endless resends after a provider rejection).

Quiet hours defer a step (the run waits, nothing is written); a message skipped by consent,
suppression or smart sending is written with its reason and not rescheduled.

Batches. `deliver_many` (what a job calls; `deliver` is a batch of one) takes its messages
`CLAIM_CHUNK` (25) at a time, in id order, and per chunk:

1. one transaction decides and claims: the chunk's message rows are read with their run,
   flow, store and settings and locked FOR UPDATE in id order, then its shoppers' rows in id
   order (messages before shoppers, each in id order, in every path: two workers with
   overlapping batches wait for each other, never deadlock, and the second finds `sending` or
   later). The last checks run for the chunk as a set: exit conditions per run, consent from
   the locked shoppers, the suppression list in one query, smart sending in one query (the
   latest marketing mail handed over per shopper) plus the chunk itself: of two marketing
   messages to one shopper in a chunk, the first by id goes and the second is skipped. The
   survivors are rendered (their checkouts, orders, discount codes and cross-sell read once
   for the chunk: `variables.prefetch`; compiled templates are cached per source by the
   renderer; the store's settings are read once). Refusals and render failures are written
   by one statement, the claims (queued → sending, with subject and Message-ID) by another,
   then one commit;
2. each claimed message is handed to the one reused mail server connection (or the outbox),
   one after the other, and the outcomes (sent / suppressed with the address's suppression /
   failed) are written in bulk: one statement and one commit for what has been handed over
   (every `RECORD_EVERY` messages for a single chunk). With several chunks a `_Sender`
   thread hands chunk n over while this thread decides, renders and claims chunk n+1 (the
   waits on the server's replies and on the database overlap); it claims at most one chunk
   ahead, and only ever gives the sender messages whose claim has committed. The sender
   touches no database session; outcomes are recorded here, between chunks.

So a message costs a share of a chunk's few statements instead of eight round trips, and
the rule above holds message by message: nothing is handed over before its claim is
committed, and nothing claimed is handed over twice. The price of batching: a worker killed
between a claim and its record leaves up to two chunks `sending` (the one being handed over
and the one claimed ahead), and all of them are failed as "outcome unknown", including those
it never got to. When delivery stops on an error instead (the database lost, a job
timeout), this process knows which claimed messages it never handed over and puts them back
to `queued` (`_release`), so only the one being handed over at that moment, and the
handed-over ones not yet recorded, stay `sending`.

Not built: telling, after a crash, the claimed messages never handed over from the others
through a marker written right before each hand-over (e.g. in Redis). Redis can lose recent
writes (a restart from an older snapshot, a failover) and so show "not handed over" for a
message that was; a sound marker needs an epoch check (the Redis run id) and a
compare-and-set shared with `resolve_unknown`, and it would change the contract the crash
tests state (a message whose worker died right after its claim is then sent later instead of
failed).

Jobs: the queued messages of one commit are delivered by `jobs.flow_sending.send_messages`,
`SEND_BATCH` (200) to a job, on one database and one mail server connection (a forked
work-horse per job pays for its connections and template compilation once per batch). A
message whose flow is paused stays queued (held, like its run) and goes out once the flow is
live again.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.email import compose as composing
from app.email import transport as transports
from app.email.render import TemplateRefused, render_email
from app.flows import policy, variables
from app.flows.definition import walk
from app.flows.models import (
    FAILED,
    LIVE,
    MARKETING,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    SUPPRESSED,
    Flow,
    FlowRun,
    Message,
    OutboxMail,
)
from app.flows.service import definition_of
from app.profiles.identity import normalize_email
from app.profiles.models import Customer
from app.settings.models import ShopSettings
from app.settings.service import StoreSettings, read_settings
from app.shops.models import Shop

log = logging.getLogger(__name__)

# Messages decided and claimed in one transaction; a crash between a claim and the record
# leaves at most this many `sending` (see "Batches" above).
CLAIM_CHUNK = 25
# Outcomes written to the database (one statement, one commit) every this many messages.
RECORD_EVERY = 10
NO_EMAIL_REASON = "no email address"

# Test seam: named points of `deliver` ("rendered", "claimed", "sent") at which the crash
# tests stop a worker (os._exit in a forked child). Empty in production.
checkpoints: dict[str, Callable[[int], None]] = {}


# One mail server connection per worker process and thread (and SMTP_URL), reused across
# messages; a forked child never touches its parent's socket, and two threads delivering in
# one process (a benchmark's, a test's) never interleave their commands on one connection.
_transports = threading.local()


def exit_reason(session: Session, run: FlowRun, now: datetime) -> str | None:
    # The engine's exit conditions (order placed, unsubscribed, redacted, filters): imported
    # here, as the engine imports this module.
    from app.flows import exits

    return exits.exit_reason(session, run, now)


def find_step(definition: dict[str, Any], step_id: str) -> dict[str, Any] | None:
    return next((s for s in walk(definition.get("steps") or []) if s.get("id") == step_id),
                None)



def current_transport(app: Flask) -> transports.Transport:
    key = (os.getpid(), app.config.get("SMTP_URL"))
    held = getattr(_transports, "held", None)
    if held is None or held[0] != key:
        if held is not None and held[0][0] == key[0]:
            held[1].close()
        held = _transports.held = (key, transports.open_transport(app))
    return held[1]


@dataclass
class Prepared:
    message: Message
    run: FlowRun | None
    flow: Flow | None
    definition: dict[str, Any]
    step: dict[str, Any] | None
    shop: Shop


def _definition(session: Session, flow: Flow, version: int) -> dict[str, Any]:
    """The definition a run on `version` follows (the flow's own when it is the current
    one, which the caller has loaded already)."""
    if version == flow.version:
        return flow.definition
    return definition_of(session, flow.id, version) or {}


def _finish(session: Session, message_pk: int, expected: str, status: str,
            reason: str | None, **values: Any) -> bool:
    """Move the message from `expected` to `status` and commit; False if it was not in
    `expected` (someone else decided it)."""
    done = session.execute(update(Message).where(
        Message.id == message_pk, Message.status == expected,
    ).values(status=status, reason=reason, **values)).rowcount
    session.commit()
    return bool(done)


def _checkpoint(name: str, message_pk: int) -> None:
    hook = checkpoints.get(name)
    if hook is not None:
        hook(message_pk)


def deliver(message_pk: int, *, now: datetime | None = None,
            connection: Connection | None = None) -> str:
    """Deliver one queued message by the rule above (`deliver_many` of one); returns its
    status afterwards ("queued" while its flow is not live: held, like its run; "missing"
    when there is no such message). Safe to call any number of times, from any number of
    workers."""
    return deliver_many([message_pk], now=now, connection=connection)[int(message_pk)]


def deliver_many(message_pks: list[int], *, now: datetime | None = None,
                 connection: Connection | None = None) -> dict[int, str]:
    """Deliver messages by the rule above, `CLAIM_CHUNK` claimed at a time; returns
    {message pk: its status afterwards}. Safe to call any number of times, from any number
    of workers, with overlapping batches. `connection`: a connection of the caller's to
    deliver on (a job delivers its whole batch on one). `now`: the claim's time (tests)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if connection is None:
        with db.engine.connect() as own:
            return deliver_many(message_pks, now=now, connection=own)
    pks = sorted({int(pk) for pk in message_pks})
    statuses: dict[int, str] = {}
    # One connection for the whole batch (a commit does not hand it back to the pool, so no
    # check-out ping and no reset between the steps).
    chunks = [pks[i:i + CLAIM_CHUNK] for i in range(0, len(pks), CLAIM_CHUNK)]
    with Session(bind=connection, expire_on_commit=False) as session:
        if len(chunks) > 1:
            _deliver_pipelined(session, app, chunks, now, statuses)
        elif chunks:
            claimed = _claim_chunk(session, chunks[0], now or utcnow(), statuses)
            _hand_over_claimed(session, app, claimed, statuses)
    return statuses


@dataclass
class _Candidate:
    """A queued message of a chunk being decided, with what its checks and render need."""

    message: Message
    run: FlowRun
    flow: Flow
    definition: dict[str, Any]
    step: dict[str, Any]
    shop: Shop
    settings: StoreSettings
    mime: Any = None
    subject: str | None = None
    # Plain copies the sender thread reads (it never touches the session's objects).
    pk: int = 0
    shop_id: int = 0

    def __post_init__(self) -> None:
        self.pk, self.shop_id = self.message.id, self.message.shop_id

    @property
    def shopper(self) -> tuple[int, int | None]:
        return (self.message.shop_id, self.message.customer_id)

    @property
    def smart_hours(self) -> int:
        """The smart-sending window this message is held to (0: none)."""
        if self.flow.category != MARKETING or not self.definition.get("smart_sending", True):
            return 0
        return max(self.settings.smart_sending_hours or 0, 0)


# Statements run once per chunk with one row of parameters per message (executemany,
# pipelined by psycopg): only a message still in the expected state changes.
_messages = Message.__table__
_DECIDE = update(_messages).where(
    _messages.c.id == bindparam("b_id"), _messages.c.status == QUEUED,
).values(status=bindparam("b_status"), reason=bindparam("b_reason"))
_CLAIM = update(_messages).where(
    _messages.c.id == bindparam("b_id"), _messages.c.status == QUEUED,
).values(status=SENDING, reason=None, sending_at=bindparam("b_sending_at"),
         subject=bindparam("b_subject"), message_id=bindparam("b_message_id"))
_RECORD = update(_messages).where(
    _messages.c.id == bindparam("b_id"), _messages.c.status == SENDING,
).values(status=bindparam("b_status"), reason=bindparam("b_reason"),
         sent_at=bindparam("b_sent_at"))


def _claim_chunk(session: Session, pks: list[int], now: datetime,
                 statuses: dict[int, str]) -> list[_Candidate]:
    """Decide and claim a chunk in one transaction: its messages' rows locked in id order,
    then its shoppers' rows in id order (the same order everywhere, so two workers never
    deadlock); exit conditions, consent, suppression and smart sending checked for the whole
    chunk at once (two messages to one shopper in the chunk: the first by id goes, smart
    sending holds the second); the survivors rendered; refusals and claims written by one
    statement each; committed. Returns the claimed messages, each with its MIME message."""
    for pk in pks:
        statuses[pk] = "missing"
    # The store and its settings come along, so the renderer and the checks read them from
    # the session without another round trip.
    found = session.execute(
        select(Message, FlowRun, Flow, Shop, ShopSettings)
        .join(Shop, Shop.id == Message.shop_id)
        .outerjoin(ShopSettings, ShopSettings.shop_id == Message.shop_id)
        .outerjoin(FlowRun, FlowRun.id == Message.run_id)
        .outerjoin(Flow, Flow.id == Message.flow_id)
        # Only queued rows are locked (re-checked after any wait), so a retried batch never
        # holds up the open, click and unsubscribe updates of the messages already sent.
        .where(Message.id.in_(pks), Message.status == QUEUED)
        .order_by(Message.id).with_for_update(of=Message)).all()
    if len(found) < len(pks):
        seen = {row[0].id for row in found}
        statuses.update(session.execute(select(Message.id, Message.status).where(
            Message.id.in_([pk for pk in pks if pk not in seen]))).all())
    decided: list[dict[str, Any]] = []
    candidates: list[_Candidate] = []
    settings_of: dict[int, StoreSettings] = {}

    def decide(pk: int, status: str, reason: str) -> None:
        decided.append({"b_id": pk, "b_status": status, "b_reason": reason[:1000]})
        statuses[pk] = status

    for message, run, flow, shop, _settings in found:
        statuses[message.id] = message.status
        if message.status != QUEUED:
            continue
        definition = _definition(session, flow, run.version) if flow and run else {}
        step = find_step(definition, message.step_id) if message.step_id else None
        if step is None:
            decide(message.id, FAILED, "the flow step no longer exists")
            continue
        if flow.status != LIVE:
            continue  # held: stays queued until the flow is live again
        if shop.id not in settings_of:
            settings_of[shop.id] = read_settings(session, shop)
        candidates.append(_Candidate(message, run, flow, definition, step, shop,
                                     settings_of[shop.id]))

    claimed: list[_Candidate] = []
    if candidates:
        customers = {(c.shop_id, c.id): c for c in session.scalars(
            select(Customer).where(tuple_(Customer.shop_id, Customer.id).in_(
                sorted({c.shopper for c in candidates if c.message.customer_id is not None})))
            .order_by(Customer.id).with_for_update())}
        addresses = {(c.message.shop_id, normalize_email(c.message.to_email))
                     for c in candidates}
        suppressed = policy.suppressed_addresses(
            session, {a for a in addresses if a[1] is not None})
        widest = max(c.smart_hours for c in candidates)
        recent = policy.last_marketing_mail(
            session, {c.shopper for c in candidates if c.smart_hours},
            now - timedelta(hours=widest)) if widest else {}
        going = []
        for c in candidates:
            refusal = _refusal(session, c, customers.get(c.shopper), suppressed, recent, now)
            if refusal is not None:
                decide(c.message.id, *refusal)
                continue
            going.append(c)
        facts = variables.prefetch(
            session, [c.run for c in going],
            {c.run.id for c in going if variables.has_discount_step(c.definition)})
        mailed: set[tuple[int, int | None]] = set()  # given marketing mail in this chunk
        for c in going:
            if c.smart_hours and c.shopper in mailed:
                decide(c.message.id, SKIPPED,
                       policy.SMART_SENDING_REASON.format(hours=c.smart_hours))
                continue
            failure = _make(session, c, customers.get(c.shopper), facts)
            if failure is not None:
                decide(c.message.id, FAILED, failure)
                continue
            _checkpoint("rendered", c.message.id)
            if c.flow.category == MARKETING:
                mailed.add(c.shopper)
            claimed.append(c)
    if decided:
        session.execute(_DECIDE, decided)
    if claimed:
        session.execute(_CLAIM, [{"b_id": c.message.id, "b_sending_at": now,
                                  "b_subject": c.subject, "b_message_id": c.mime["Message-ID"]}
                                 for c in claimed])
    session.commit()
    for c in claimed:
        statuses[c.message.id] = SENDING
    return claimed


def _refusal(session: Session, c: _Candidate, customer: Customer | None,
             suppressed: dict[tuple[int, str], str],
             recent: dict[tuple[int, int], datetime],
             now: datetime) -> tuple[str, str] | None:
    """(status, reason) when the last checks hold the message back, else None (smart
    sending here by the mail already handed over; the caller adds this chunk's own)."""
    if customer is None or customer.deleted_at is not None:
        return SKIPPED, "the shopper's profile was deleted"
    if reason := exit_reason(session, c.run, now):
        return SKIPPED, reason
    if reason := policy.consent_refusal(c.flow.category, c.definition.get("send_to",
                                                                          "subscribed"),
                                        customer.email_marketing):
        return SKIPPED, reason
    normalized = normalize_email(c.message.to_email)
    if normalized is None:
        return SUPPRESSED, NO_EMAIL_REASON
    if reason := suppressed.get((c.message.shop_id, normalized)):
        return SUPPRESSED, reason
    if hours := c.smart_hours:
        last = recent.get(c.shopper)  # type: ignore[arg-type]
        if last is not None and last >= now - timedelta(hours=hours):
            return SKIPPED, policy.SMART_SENDING_REASON.format(hours=hours)
    return None


def _make(session: Session, c: _Candidate, customer: Customer | None,
          facts: variables.Prefetched) -> str | None:
    """Render and compose the message into `c`; the reason when it cannot be made."""
    pk = c.message.id
    try:
        rendered = render_email(c.step, variables.build(
            session, c.run, c.step, pk, customer=customer, definition=c.definition,
            prefetched=facts))
        # The store's settings row is in the session already: no round trip.
        envelope = composing.envelope_for(session, c.shop, c.message.to_email,
                                          message_pk=pk)
        c.mime = composing.compose(rendered, envelope, message_pk=pk)
        c.subject = rendered.subject
    except TemplateRefused as exc:
        return f"the template failed: {exc}"
    except SQLAlchemyError:
        raise  # the database: the job's retry (nothing of this chunk was claimed)
    except Exception as exc:  # noqa: BLE001 - a message that cannot be made fails alone
        log.exception("flows.send.compose_failed", extra={"message_pk": pk})
        return f"the email could not be made: {type(exc).__name__}: {exc}"
    return None


def _hand_over_claimed(session: Session, app: Flask, claimed: list[_Candidate],
                       statuses: dict[int, str]) -> None:
    """Give each claimed message to the mail server (or the outbox), one after the other on
    the one connection, recording the outcomes `RECORD_EVERY` messages at a time. If
    anything stops this loop (the database, say), the messages not yet handed over are put
    back to queued: this process knows for certain that the server never saw them."""
    if not claimed:
        return
    transport = current_transport(app)
    outcomes: list[dict[str, Any]] = []  # handed over, not yet recorded
    refused: list[tuple[_Candidate, str]] = []
    outbox: list[OutboxMail] = []
    handed = 0
    try:
        for c in claimed:
            pk = c.message.id
            _checkpoint("claimed", pk)
            handed += 1
            status, reason, sent_at = _send_one(transport, pk, c.shop_id, c.mime, outbox)
            statuses[pk] = status
            if status == SUPPRESSED:
                refused.append((c, reason))
            outcomes.append({"b_id": pk, "b_status": status, "b_reason": reason,
                             "b_sent_at": sent_at})
            if len(outcomes) >= RECORD_EVERY:
                _record(session, outcomes, refused, outbox)
        _record(session, outcomes, refused, outbox)
    except BaseException:
        _release(session, [c.message.id for c in claimed[handed:]])
        raise


class _Sender(threading.Thread):
    """Hands claimed messages to the mail server, in the order given, on the one connection,
    while the caller decides, renders and claims the next chunk (rendering and the database
    are then not waiting on the server's replies, nor the server on them). Touches no
    database session: the caller records what it reports (`take`), and after `stop` puts
    back to queued what it never handed over (`not_handed`)."""

    def __init__(self, transport: transports.Transport) -> None:
        super().__init__(name="flow-sender", daemon=True)
        self.transport = transport
        self.inbox: queue.Queue[_Candidate | None] = queue.Queue()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.handed_one = threading.Condition(self.lock)
        self.pending: dict[int, _Candidate] = {}  # submitted, not handed over yet
        self.done: list[tuple[_Candidate, str, str | None, datetime | None,
                              OutboxMail | None]] = []
        self.error: BaseException | None = None

    def submit(self, claimed: list[_Candidate]) -> None:
        """Queue claimed (committed `sending`) messages for hand-over."""
        with self.lock:
            self.pending.update((c.pk, c) for c in claimed)
        for c in claimed:
            self.inbox.put(c)

    def run(self) -> None:
        try:
            while (c := self.inbox.get()) is not None:
                # Checked before the message leaves `pending`: once the caller has set
                # `stopping` and joined, what is still pending was never handed over.
                if self.stopping.is_set():
                    continue
                with self.lock:
                    del self.pending[c.pk]
                    self.handed_one.notify_all()
                _checkpoint("claimed", c.pk)
                box: list[OutboxMail] = []
                status, reason, sent_at = _send_one(self.transport, c.pk, c.shop_id, c.mime,
                                                    box)
                with self.lock:
                    self.done.append((c, status, reason, sent_at, box[0] if box else None))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self.error = exc
            self.stopping.set()
        finally:
            with self.lock:
                self.handed_one.notify_all()

    def wait_below(self, count: int) -> None:
        """Wait until fewer than `count` submitted messages wait for their hand-over (or the
        sender stopped)."""
        with self.lock:
            self.handed_one.wait_for(lambda: len(self.pending) < count
                                     or not self.is_alive() or self.stopping.is_set(),
                                     timeout=None)

    def take(self) -> list[tuple[_Candidate, str, str | None, datetime | None,
                                 OutboxMail | None]]:
        with self.lock:
            done, self.done = self.done, []
        return done

    def stop(self, *, at_once: bool) -> None:
        """Wait for the queued hand-overs (`at_once`: only the one under way) to end."""
        if at_once:
            self.stopping.set()
        self.inbox.put(None)
        self.join()

    def not_handed(self) -> list[int]:
        with self.lock:
            return sorted(self.pending)


def _deliver_pipelined(session: Session, app: Flask, chunks: list[list[int]],
                       now: datetime | None, statuses: dict[int, str]) -> None:
    """Deliver several chunks: each claimed here, then handed over by a `_Sender` while the
    next is claimed; outcomes recorded between chunks and at the end. A claim always commits
    before its messages reach the sender, so the rule holds message by message."""
    sender = _Sender(current_transport(app))
    sender.start()

    def record() -> None:
        outcomes, refused, outbox = [], [], []
        for c, status, reason, sent_at, mail in sender.take():
            statuses[c.pk] = status
            outcomes.append({"b_id": c.pk, "b_status": status, "b_reason": reason,
                             "b_sent_at": sent_at})
            if status == SUPPRESSED:
                refused.append((c, reason))
            if mail is not None:
                outbox.append(mail)
        _record(session, outcomes, refused, outbox)

    try:
        for chunk in chunks:
            # At most one chunk claimed ahead of the one being handed over: what a crash
            # leaves `sending` unsent stays under two chunks.
            sender.wait_below(CLAIM_CHUNK + 1)
            if sender.stopping.is_set():
                break
            sender.submit(_claim_chunk(session, chunk, now or utcnow(), statuses))
            record()
        sender.stop(at_once=False)
        record()
    except BaseException:
        sender.stop(at_once=True)
        try:
            session.rollback()
            record()
        except Exception:  # noqa: BLE001 - they stay `sending`: resolve_unknown decides
            log.warning("flows.send.record_failed", exc_info=True)
        _release(session, sender.not_handed())
        raise
    # The sender stopped on its own error: what it never handed over goes back to queued.
    _release(session, sender.not_handed())
    if sender.error is not None:
        raise sender.error


def _send_one(transport: transports.Transport, pk: int, shop_id: int, mime: Any,
              outbox: list[OutboxMail]) -> tuple[str, str | None, datetime | None]:
    """Hand one claimed message over; (status, reason, sent_at)."""
    if transport.outbox:
        outbox.append(OutboxMail(message_pk=pk, shop_id=shop_id, raw=mime.as_string()))
        return SENT, None, utcnow()
    try:
        transport.send(mime)
    except transports.HardRefusal as exc:
        log.info("flows.send.refused", extra={"message_pk": pk})
        return SUPPRESSED, f"refused by the mail server: {exc}"[:1000], None
    except Exception as exc:  # noqa: BLE001 - 4xx, timeouts and the unforeseen alike
        # Never resent automatically: the server may have taken it (a timeout after DATA).
        reason = f"not delivered: {exc}" if isinstance(exc, transports.SoftFailure) else (
            f"not delivered: {type(exc).__name__}: {exc}")
        log.warning("flows.send.failed", extra={"message_pk": pk, "reason": reason})
        return FAILED, reason[:1000], None
    _checkpoint("sent", pk)
    return SENT, None, utcnow()


def _record(session: Session, outcomes: list[dict[str, Any]],
            refused: list[tuple[_Candidate, str]], outbox: list[OutboxMail]) -> None:
    """Write the outcomes gathered so far (one statement), the refused addresses'
    suppressions and the outbox's mail, and commit; empties the lists given."""
    if not outcomes:
        return
    for c, reason in refused:
        policy.suppress(session, c.message.shop_id, c.message.to_email, reason, c.message.id,
                        utcnow())
    session.add_all(outbox)
    session.execute(_RECORD, outcomes)
    session.commit()
    outcomes.clear()
    refused.clear()
    outbox.clear()


def _release(session: Session, pks: list[int]) -> None:
    """Put claimed messages this process never handed over back to queued (best effort: if
    the database cannot be reached they stay `sending`, and `resolve_unknown` fails them)."""
    if not pks:
        return
    try:
        session.rollback()
        session.execute(update(Message).where(Message.id.in_(pks), Message.status == SENDING)
                        .values(status=QUEUED, sending_at=None, message_id=None))
        session.commit()
    except Exception:  # noqa: BLE001 - the original error is the one to raise
        log.warning("flows.send.release_failed", extra={"message_pks": pks[:20]},
                    exc_info=True)


def hand_over(session: Session, app: Flask, p: Prepared, mime) -> str:
    """Give the claimed message to the mail server (or the outbox) and record the outcome."""
    pk, shop_id = p.message.id, p.message.shop_id
    transport = current_transport(app)
    if transport.outbox:
        session.add(OutboxMail(message_pk=pk, shop_id=shop_id, raw=mime.as_string()))
        _finish(session, pk, SENDING, SENT, None, sent_at=utcnow())
        return SENT
    try:
        transport.send(mime)
    except transports.HardRefusal as exc:
        reason = f"refused by the mail server: {exc}"
        policy.suppress(session, shop_id, p.message.to_email, reason, pk, utcnow())
        _finish(session, pk, SENDING, SUPPRESSED, reason)
        log.info("flows.send.refused", extra={"message_pk": pk})
        return SUPPRESSED
    except Exception as exc:  # noqa: BLE001 - 4xx, timeouts and the unforeseen alike
        # Never resent automatically: the server may have taken it (a timeout after DATA).
        reason = f"not delivered: {exc}" if isinstance(exc, transports.SoftFailure) else (
            f"not delivered: {type(exc).__name__}: {exc}")
        _finish(session, pk, SENDING, FAILED, reason[:1000])
        log.warning("flows.send.failed", extra={"message_pk": pk, "reason": reason})
        return FAILED
    _checkpoint("sent", pk)
    _finish(session, pk, SENDING, SENT, None, sent_at=utcnow())
    return SENT
