"""Property: whatever a correctly signed body holds, its delivery ends processed or failed
with a readable reason, and a valid delivery sent after it is applied.

Hypothesis mutates Shopify's and WooCommerce's published sample payloads (tests/fixtures) at
random: a field at any depth gets another type, a thousand levels of nesting, a NUL, a huge
number, an empty object or list, a string where an object belongs and the reverse, a string
longer than its column, or goes missing. One to three such deliveries go signed through the
real receiver, then a valid one; the shop's inbox is drained by the drain job
(`jobs.ingest.drain_shop`, in process: a forked worker per example would cost most of the
time budget), in batches of 1, 3 or 500.

Each example gets a store of its own (tenant scoping keeps examples apart without emptying
the database every time).

Profiles: by default the examples are derandomized (`ci`): every run, on every machine, tries
the same generated cases, so a red build is reproducible and never flaky; it is
a fixed, broad regression set rather than a search. `STICKY_HYPOTHESIS=explore` searches
with fresh random cases (and more of them) and keeps failures in `.hypothesis/` to replay.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.compliance.service import handle_delivery
from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Customer, Order
from app.shops.service import connect_shopify_by_token
from jobs.ingest import drain_shop
from tests.conftest import post_webhook, shopify_fixture
from tests.factories import order_payload
from tests.test_malformed_deliveries import assert_readable
from tests.test_woo_cart_snapshot import SNAPSHOT
from tests.test_woo_support import connect_store, post_woo, woo_fixture
from tests.test_woo_support import order as woo_order

_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
           HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_HEALTH, print_blob=True)
settings.register_profile("explore", max_examples=400, deadline=None,
                          suppress_health_check=_HEALTH, print_blob=True)
PROFILE = settings.get_profile(os.environ.get("STICKY_HYPOTHESIS", "ci"))

SHOPIFY_SAMPLES = {topic: shopify_fixture(topic) for topic in (
    "orders/create", "orders/updated", "refunds/create", "checkouts/create", "carts/update",
    "customers/create", "customers/delete", "customers_email_marketing_consent/update")}
WOO_SAMPLES = {
    "order.created": woo_fixture("order"),
    "order.updated": woo_fixture("orders_list")[1],  # the documented order with refunds
    "customer.updated": woo_fixture("customer"),
    "customer.deleted": {"id": 25},
    "sticky_cart.updated": SNAPSHOT,
}
PRIVACY_SAMPLES = {topic: shopify_fixture(topic)
                   for topic in ("customers/redact", "customers/data_request")}

# Placeholders serialized as a thousand levels of nesting (json.dumps cannot write that deep).
DEEP = {"__deep_list__": "[" * 1000 + "1" + "]" * 1000,
        "__deep_object__": '{"a":' * 1000 + "1" + "}" * 1000}
HUGE = [2**63 - 1, -(2**63), 2**64 - 1, 10**15, 99999999999999, 1e308, -1e308, 1e-300,
        123456789012345678901234567890, "1e400", "NaN", "-Infinity", "99999999999999.99999"]
_stores = itertools.count(1)


def _paths(doc: Any) -> list[tuple]:
    """Every place in the document, shallow first (Hypothesis shrinks towards the front)."""
    found: list[tuple] = [()]
    stack: list[tuple[tuple, Any]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        children = node.items() if isinstance(node, dict) else (
            enumerate(node) if isinstance(node, list) else ())
        for key, child in children:
            found.append((*path, key))
            stack.append(((*path, key), child))
    return sorted(found, key=lambda p: (len(p), [str(k) for k in p]))


def _at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3),
                    st.dictionaries(st.text(max_size=6), _scalars, max_size=3))


@st.composite
def _replacement(draw, current: Any) -> Any:
    kind = draw(st.sampled_from(["type", "deep", "nul", "huge", "empty", "wrap", "long"]))
    if kind == "type":
        return draw(_values.filter(lambda v: type(v) is not type(current)))
    if kind == "deep":
        return draw(st.sampled_from(sorted(DEEP)))
    if kind == "nul":
        if isinstance(current, str):
            at = draw(st.integers(0, len(current)))
            return current[:at] + "\x00" + current[at:]
        return "\x00" + draw(st.text(max_size=6))
    if kind == "huge":
        return draw(st.sampled_from(HUGE))
    if kind == "empty":
        return draw(st.sampled_from([{}, [], ""]))
    if kind == "long":  # longer than any column it could land in
        return draw(st.sampled_from(["x" * 400, "é" * 3000, "7" * 200]))
    # a string where an object or list belongs, an object or list where a value belongs
    if isinstance(current, dict | list):
        return draw(st.sampled_from(["[object]", json.dumps(current)[:40]]))
    return draw(st.sampled_from([{"value": current}, [current]]))


@st.composite
def mutated(draw, samples: dict[str, Any]) -> tuple[str, Any]:
    """(topic, payload): a published sample with one to three random changes."""
    topic = draw(st.sampled_from(sorted(samples)))
    doc: Any = copy.deepcopy(samples[topic])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        current = _at(doc, path)
        if path and draw(st.integers(0, 6)) == 0:
            del _at(doc, path[:-1])[path[-1]]  # the field goes missing
            continue
        value = draw(_replacement(current))
        if not path:
            doc = value
        else:
            _at(doc, path[:-1])[path[-1]] = value
    return topic, doc


def _body(doc: Any) -> bytes:
    text = json.dumps(doc)
    for placeholder, nested in DEEP.items():
        text = text.replace(json.dumps(placeholder), nested)
    return text.encode()


def _accepted(response) -> None:
    """A receiver may refuse a body it cannot identify (4xx, with a reason); never a 500."""
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code != 200:
        assert response.get_json()["message"]


def _drain(app, shop_id: int, batch_size: int) -> None:
    db.session.rollback()  # the drain job uses sessions of its own
    app.config["INGEST_BATCH_SIZE"] = batch_size
    try:
        summary = drain_shop(shop_id)
    finally:
        app.config["INGEST_BATCH_SIZE"] = 500
    assert "skipped" not in summary


def _assert_inbox_settled(shop_id: int) -> None:
    rows = db.session.execute(select(InboxEntry.status, InboxEntry.error)
                              .where(InboxEntry.shop_id == shop_id)).all()
    assert [r.status for r in rows if r.status not in ("processed", "failed")] == []
    for row in rows:
        if row.status == "failed":
            assert_readable(row.error)


def _assert_applied(shop_id: int, order_id: Any, email: str, total: str) -> None:
    order = db.session.execute(select(Order).where(
        Order.shop_id == shop_id, Order.platform_order_id == str(order_id))).scalar_one()
    assert order.total_price == Decimal(total)
    buyer = db.session.get(Customer, order.customer_id)
    assert (buyer.email_normalized, buyer.orders_count, buyer.total_spent) == (
        email, 1, Decimal(total))


_batches = st.sampled_from([1, 3, 500])


@PROFILE
@given(deliveries=st.lists(mutated(SHOPIFY_SAMPLES), min_size=1, max_size=3),
       batch_size=_batches)
def test_mutated_shopify_samples_never_block_a_later_delivery(ctx, client, deliveries,
                                                              batch_size):
    n = next(_stores)
    domain = f"poison-{n}.myshopify.com"
    shop = connect_shopify_by_token(db.session, domain, "shpat_property")
    db.session.commit()
    for topic, doc in deliveries:
        _accepted(post_webhook(client, topic, None, body=_body(doc), shop_domain=domain))
    email = f"valid-{n}@example.com"
    valid = order_payload(email=email, total="42.50")
    _accepted(post_webhook(client, "orders/create", valid, shop_domain=domain))

    _drain(ctx, shop.id, batch_size)

    _assert_inbox_settled(shop.id)
    _assert_applied(shop.id, valid["id"], email, "42.50")


@PROFILE
@given(deliveries=st.lists(mutated(WOO_SAMPLES), min_size=1, max_size=3),
       batch_size=_batches)
def test_mutated_woocommerce_samples_never_block_a_later_delivery(ctx, client, deliveries,
                                                                  batch_size):
    n = next(_stores)
    store = connect_store(db.session, url=f"https://poison-{n}.example")
    for index, (topic, doc) in enumerate(deliveries):
        _accepted(post_woo(client, store.id, topic, None, body=_body(doc),
                           delivery_id=f"mutated-{index}"))
    email = f"valid-{n}@example.com"
    valid = woo_order(total="42.50", email=email)
    _accepted(post_woo(client, store.id, "order.created", valid))

    _drain(ctx, store.id, batch_size)

    _assert_inbox_settled(store.id)
    _assert_applied(store.id, valid["id"], email, "42.50")


@settings(PROFILE, max_examples=max(10, PROFILE.max_examples // 2))
@given(privacy=mutated(PRIVACY_SAMPLES))
def test_a_mutated_privacy_request_ends_done_or_failed_and_blocks_nothing(ctx, client,
                                                                          privacy):
    n = next(_stores)
    domain = f"poison-{n}.myshopify.com"
    shop = connect_shopify_by_token(db.session, domain, "shpat_property")
    db.session.commit()
    topic, doc = privacy
    if isinstance(doc, dict):
        doc["shop_domain"] = domain
    _accepted(post_webhook(client, topic, None, body=_body(doc), shop_domain=domain))
    email = f"valid-{n}@example.com"
    valid = order_payload(email=email, total="42.50")
    _accepted(post_webhook(client, "orders/create", valid, shop_domain=domain))
    request_id = db.session.execute(select(InboxEntry.id).where(
        InboxEntry.shop_id == shop.id, InboxEntry.topic == topic)).scalar_one()
    db.session.rollback()

    with db.new_session() as session:
        handle_delivery(session, request_id)  # a customers/redact drains the store first
    _drain(ctx, shop.id, 500)

    entry = db.session.execute(select(InboxEntry.status, InboxEntry.error)
                               .where(InboxEntry.id == request_id)).first()
    if entry is not None:  # a redaction may delete its own store's deliveries, never itself
        assert entry.status in ("processed", "failed"), entry
        if entry.status == "failed":
            assert entry.error and entry.error.isprintable() and len(entry.error) <= 500
    _assert_applied(shop.id, valid["id"], email, "42.50")
