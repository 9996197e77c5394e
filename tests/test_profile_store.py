"""The profile store stays right whatever order, and however often, deliveries arrive."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select, text

from app.db import db
from app.profiles.models import Cart, Customer, Order, OrderLine, Refund, TimelineEvent
from tests.conftest import post_webhook, run_worker
from tests.factories import (
    checkout_payload,
    customer_payload,
    next_id,
    order_payload,
    refund_payload,
    ts,
)


def deliver(app, client, *deliveries):
    """Post (topic, payload[, webhook id]) deliveries, then let a real worker apply them."""
    for delivery in deliveries:
        topic, payload, *rest = delivery
        response = post_webhook(client, topic, payload, webhook_id=rest[0] if rest else None)
        assert response.status_code == 200, response.get_data(as_text=True)
    run_worker(app)


def snapshot():
    """Everything the mirror holds, in a comparable form (no surrogate ids or our clocks)."""
    s = db.session
    s.close()
    customers = s.execute(select(
        Customer.platform_customer_id, Customer.email_normalized, Customer.first_name,
        Customer.orders_count, Customer.total_spent, Customer.first_order_at,
        Customer.last_order_at, Customer.email_marketing,
    ).order_by(Customer.email_normalized)).all()
    orders = s.execute(select(
        Order.platform_order_id, Order.financial_status, Order.fulfillment_status,
        Order.total_price, Order.total_refunded, Order.cancelled_at, Order.platform_updated_at,
    ).order_by(Order.platform_order_id)).all()
    lines = s.execute(select(func.count()).select_from(OrderLine)).scalar_one()
    timeline = s.execute(select(TimelineEvent.kind, TimelineEvent.ref)
                         .order_by(TimelineEvent.kind, TimelineEvent.ref)).all()
    return customers, orders, lines, timeline


def one_customer() -> Customer:
    db.session.close()
    return db.session.execute(select(Customer)).scalar_one()


def story():
    """A customer registers, orders, pays, gets fulfilled, is partly refunded."""
    customer = customer_payload(email="Grace@Example.com", updated=0)
    order_id = next_id()
    embedded = {k: customer[k] for k in ("id", "email", "first_name", "last_name")}
    created = order_payload(order_id=order_id, customer=embedded, total="80.00",
                            financial_status="pending", updated=1)
    paid = order_payload(order_id=order_id, customer=embedded, total="80.00", updated=2)
    fulfilled = order_payload(order_id=order_id, customer=embedded, total="80.00", updated=3,
                              fulfillment_status="fulfilled")
    refund = refund_payload(order_id=order_id, amount="20.00")
    return [("customers/create", customer, "d1"), ("orders/create", created, "d2"),
            ("orders/paid", paid, "d3"), ("orders/fulfilled", fulfilled, "d4"),
            ("refunds/create", refund, "d5")]


def test_clean_run_builds_the_expected_profile(app, client, shop):
    deliver(app, client, *story())
    customer = one_customer()
    assert customer.email_normalized == "grace@example.com"
    assert customer.orders_count == 1
    assert customer.total_spent == Decimal("60.00")
    order = db.session.execute(select(Order)).scalar_one()
    assert (order.financial_status, order.fulfillment_status) == ("paid", "fulfilled")
    assert order.total_refunded == Decimal("20.00")
    kinds = {t.kind for t in db.session.execute(select(TimelineEvent)).scalars()}
    assert kinds == {"customer_created", "order_placed", "order_paid", "order_fulfilled",
                     "refund_created"}


def test_each_delivery_three_times_ends_like_a_clean_run(app, client, shop, other_shop):
    deliveries = story()
    deliver(app, client, *deliveries)
    clean = snapshot()
    # Same deliveries again, three times each: same ids, so nothing may change.
    deliver(app, client, *(deliveries * 3))
    assert snapshot() == clean


def test_same_content_under_new_delivery_ids_changes_nothing(app, client, shop):
    """Shopify may send the same fact twice with different webhook ids (e.g. paid + updated)."""
    deliveries = story()
    deliver(app, client, *deliveries)
    clean = snapshot()
    deliver(app, client, *[(topic, payload) for topic, payload, _ in deliveries])
    assert snapshot() == clean


def test_reverse_order_ends_like_a_clean_run(app, client, shop):
    deliveries = story()
    deliver(app, client, *deliveries)
    clean = snapshot()
    # Wipe the mirror, then deliver the same facts newest first (fresh delivery ids).
    for table in ("timeline_events", "order_lines", "refunds", "carts", "orders", "customers",
                  "inbox"):
        db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()
    deliver(app, client, *[(topic, payload) for topic, payload, _ in reversed(deliveries)])
    assert snapshot() == clean


def test_updated_before_create(app, client, shop):
    order_id = next_id()
    updated = order_payload(order_id=order_id, total="50.00", updated=10,
                            fulfillment_status="fulfilled")
    created = order_payload(order_id=order_id, total="50.00", updated=0,
                            financial_status="pending")
    deliver(app, client, ("orders/updated", updated), ("orders/create", created))
    order = db.session.execute(select(Order)).scalar_one()
    assert order.fulfillment_status == "fulfilled"
    assert order.financial_status == "paid"


def test_old_update_after_new_one_is_ignored(app, client, shop):
    order_id = next_id()
    new = order_payload(order_id=order_id, total="70.00", updated=20, cancelled=True)
    old = order_payload(order_id=order_id, total="70.00", updated=5)
    deliver(app, client, ("orders/cancelled", new))
    deliver(app, client, ("orders/updated", old))
    db.session.close()
    order = db.session.execute(select(Order)).scalar_one()
    assert order.cancelled_at is not None
    customer = one_customer()
    assert (customer.orders_count, customer.total_spent) == (0, Decimal("0"))


def test_stale_customer_update_does_not_overwrite(app, client, shop):
    customer_id = next_id()
    deliver(app, client,
            ("customers/update", customer_payload(customer_id=customer_id, first_name="New",
                                                  updated=30)),
            ("customers/update", customer_payload(customer_id=customer_id, first_name="Old",
                                                  updated=10)))
    assert one_customer().first_name == "New"


def test_guest_orders_attach_by_email_then_merge_when_the_guest_registers(app, client, shop):
    deliver(app, client,
            ("orders/create", order_payload(email="Lin@Example.com", total="30.00", placed=0)),
            ("orders/create", order_payload(email="lin@example.com ", total="20.00", placed=5)))
    guest = one_customer()
    assert guest.platform_customer_id is None
    assert (guest.orders_count, guest.total_spent) == (2, Decimal("50.00"))

    registered = customer_payload(email="lin@example.com", first_name="Lin", updated=60)
    deliver(app, client, ("customers/create", registered))
    customer = one_customer()  # still exactly one profile
    assert customer.platform_customer_id == str(registered["id"])
    assert customer.first_name == "Lin"
    assert (customer.orders_count, customer.total_spent) == (2, Decimal("50.00"))


def test_guest_is_merged_when_a_registered_customer_changes_to_its_email(app, client, shop):
    registered = customer_payload(email="old@example.com", updated=0)
    deliver(app, client, ("customers/create", registered),
            ("orders/create", order_payload(email="new@example.com", total="25.00")))
    assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 2
    moved = dict(registered, email="new@example.com", updated_at=ts(90))
    deliver(app, client, ("customers/update", moved))
    customer = one_customer()
    assert customer.email_normalized == "new@example.com"
    assert (customer.orders_count, customer.total_spent) == (1, Decimal("25.00"))


def test_refunds_lower_total_spent_even_before_the_order_arrives(app, client, shop):
    order_id = next_id()
    customer = customer_payload(email="ref@example.com")
    embedded = {k: customer[k] for k in ("id", "email", "first_name", "last_name")}
    deliver(app, client, ("refunds/create", refund_payload(order_id=order_id, amount="15.00")))
    assert db.session.execute(select(func.count()).select_from(Refund)).scalar_one() == 1
    deliver(app, client, ("orders/create", order_payload(order_id=order_id, customer=embedded,
                                                         total="100.00")))
    c = one_customer()
    assert c.total_spent == Decimal("85.00")
    deliver(app, client, ("refunds/create", refund_payload(order_id=order_id, amount="35.00")))
    c = one_customer()
    assert c.total_spent == Decimal("50.00")
    assert c.orders_count == 1
    assert c.average_order_value == Decimal("50.00")


def test_refund_amount_without_transactions_includes_shipping_and_adjustments():
    from connectors.shopify.normalize import refund

    payload = refund_payload(order_id=1, amount="40.00")
    del payload["transactions"]  # the lines value a refund only when it has no transactions
    payload["refund_shipping_lines"] = [{"subtotal_amount_set": {
        "shop_money": {"amount": "5.00", "currency_code": "USD"}}}]
    payload["order_adjustments"] = [{"amount": "-3.00", "tax_amount": "0.00",
                                     "kind": "shipping_refund"},
                                    {"amount": "2.50", "tax_amount": "0.00",
                                     "kind": "refund_discrepancy"}]
    assert refund(payload).amount == Decimal("45.50")


def test_cancellation_removes_the_order_from_figures(app, client, shop):
    order_id = next_id()
    deliver(app, client,
            ("orders/create", order_payload(order_id=order_id, total="60.00", updated=0)),
            ("orders/create", order_payload(total="40.00", updated=0)))
    assert one_customer().total_spent == Decimal("100.00")
    deliver(app, client, ("orders/cancelled", order_payload(order_id=order_id, total="60.00",
                                                            updated=10, cancelled=True)))
    c = one_customer()
    assert (c.orders_count, c.total_spent) == (1, Decimal("40.00"))


def test_figures_agree_with_stored_orders(app, client, shop):
    emails = [f"buyer{i}@example.com" for i in range(4)]
    deliveries = []
    for i in range(20):
        order_id = next_id()
        deliveries.append(("orders/create", order_payload(
            order_id=order_id, email=emails[i % 4], total=f"{10 + i}.25", placed=i,
            cancelled=(i % 7 == 0))))
        if i % 5 == 0:
            deliveries.append(("refunds/create", refund_payload(order_id=order_id,
                                                                amount="3.10")))
    deliver(app, client, *deliveries)
    db.session.close()
    for c in db.session.execute(select(Customer)).scalars():
        orders = [o for o in db.session.execute(
            select(Order).where(Order.customer_id == c.id)).scalars()
            if o.cancelled_at is None and o.financial_status != "voided"]
        assert c.orders_count == len(orders)
        assert c.total_spent == sum((o.total_price - o.total_refunded for o in orders),
                                    Decimal("0"))
        assert c.first_order_at == min(o.placed_at for o in orders)
        assert c.last_order_at == max(o.placed_at for o in orders)


def test_money_comes_from_shop_money_not_presentment(app, client, shop):
    payload = order_payload(total="100.00")
    payload["presentment_currency"] = "EUR"
    payload["total_price"] = "92.00"  # the presentment amount in the plain field
    payload["total_price_set"]["presentment_money"] = {"amount": "92.00", "currency_code": "EUR"}
    deliver(app, client, ("orders/create", payload))
    order = db.session.execute(select(Order)).scalar_one()
    assert (order.total_price, order.currency) == (Decimal("100.00"), "USD")


def test_marketing_consent_newest_wins(app, client, shop):
    customer = customer_payload(email="mail@example.com")
    consent = {"customer_id": customer["id"], "email_address": "mail@example.com",
               "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                           "consent_updated_at": ts(10)}}
    older = {**consent, "email_marketing_consent": {
        "state": "unsubscribed", "opt_in_level": None, "consent_updated_at": ts(5)}}
    deliver(app, client, ("customers_email_marketing_consent/update", consent),
            ("customers/create", customer),
            ("customers_email_marketing_consent/update", older))
    assert one_customer().email_marketing == "subscribed"


def test_customer_delete_marks_profile_deleted(app, client, shop):
    customer = customer_payload()
    deliver(app, client, ("customers/create", customer),
            ("customers/delete", {"id": customer["id"], "tax_exemptions": [],
                                  "admin_graphql_api_id": customer["admin_graphql_api_id"]}))
    assert one_customer().deleted_at is not None


def test_checkout_becomes_converted_by_its_order(app, client, shop):
    deliver(app, client, ("carts/create", {"id": "cart-1", "token": "cart-1", "line_items": [],
                                           "note": None, "updated_at": ts(0),
                                           "created_at": ts(0)}),
            ("checkouts/create", checkout_payload(token="chk-1", cart_token="cart-1")))
    db.session.close()
    carts = {c.kind: c for c in db.session.execute(select(Cart)).scalars()}
    assert carts["checkout"].status == "open"
    assert carts["checkout"].recovery_url.endswith("recover?key=k")
    assert carts["cart"].customer_id == carts["checkout"].customer_id is not None
    deliver(app, client, ("orders/create", order_payload(checkout_token="chk-1",
                                                         cart_token="cart-1")))
    db.session.close()
    statuses = {c.kind: c.status for c in db.session.execute(select(Cart)).scalars()}
    assert statuses == {"cart": "converted", "checkout": "converted"}


def test_checkout_arriving_after_its_order_is_converted(app, client, shop):
    deliver(app, client, ("orders/create", order_payload(checkout_token="chk-late")),
            ("checkouts/update", checkout_payload(token="chk-late", updated=-5)))
    assert db.session.execute(select(Cart.status)).scalar_one() == "converted"


def test_idle_checkout_becomes_abandoned_once(app, client, shop):
    from jobs.carts import mark_abandoned

    deliver(app, client, ("checkouts/create", checkout_payload(token="chk-idle")))
    db.session.close()
    assert mark_abandoned()["abandoned"] == {shop.id: 1}
    assert mark_abandoned()["abandoned"] == {}
    db.session.close()
    assert db.session.execute(select(Cart.status)).scalar_one() == "abandoned"
    kinds = db.session.execute(select(TimelineEvent.kind)).scalars().all()
    assert kinds.count("cart_abandoned") == 1


def test_shops_never_see_each_others_rows(app, client, shop, other_shop):
    payload = order_payload(email="same@example.com")
    deliver(app, client, ("orders/create", payload))
    response = post_webhook(client, "orders/create", payload,
                            shop_domain="other-store.myshopify.com")
    assert response.status_code == 200
    run_worker(app)
    db.session.close()
    rows = db.session.execute(select(Customer.shop_id, Customer.orders_count)
                              .order_by(Customer.shop_id)).all()
    assert rows == [(shop.id, 1), (other_shop.id, 1)]


def test_everything_in_one_batch_lands_in_the_right_order(app, client, shop):
    """Queued writes go out parents first: carts, checkouts and the order that converts them,
    a storefront cart that arrives after its order, and a second version of a new order."""
    order_id = next_id()
    first = order_payload(order_id=order_id, checkout_token="chk-b", cart_token="cart-b",
                          financial_status="pending", quantity=1, updated=1)
    second = order_payload(order_id=order_id, checkout_token="chk-b", cart_token="cart-b",
                           financial_status="paid", quantity=3, updated=1)
    deliver(app, client,
            ("orders/create", first),
            ("orders/paid", second),
            ("checkouts/update", checkout_payload(token="chk-b", cart_token="cart-b")),
            ("carts/update", {"id": "cart-b", "token": "cart-b", "line_items": [], "note": None,
                              "updated_at": ts(0), "created_at": ts(0)}))
    db.session.close()
    statuses = {c.kind: c.status for c in db.session.execute(select(Cart)).scalars()}
    assert statuses == {"cart": "converted", "checkout": "converted"}
    order = db.session.execute(select(Order)).scalar_one()
    assert order.financial_status == "paid"
    lines = db.session.execute(select(OrderLine.quantity)).scalars().all()
    assert lines == [3]
    customer = one_customer()
    assert (customer.orders_count, customer.total_spent) == (1, Decimal("100.00"))


def test_a_batch_larger_than_its_id_reservation_keeps_every_row(ctx, shop):
    """New rows get ids reserved ahead; running out mid-batch reserves more, never reuses."""
    from app.profiles.service import ProfileStore
    from connectors.shopify.normalize import normalize

    records = []
    for k in range(40):  # no prefetch: the store reserves ids 16 at a time
        buyer = customer_payload(email=f"buyer{k}@example.com")
        records += normalize("orders/create", order_payload(customer=buyer, total="10.00"))
        records += normalize("orders/create", order_payload(customer=None,
                                                            email=f"guest{k}@example.com"))
    session = db.session
    store = ProfileStore(session, shop.id)
    for record in records:
        store.apply(record)
    store.finish()
    session.commit()
    session.close()
    assert session.execute(select(func.count()).select_from(Order)).scalar_one() == 80
    assert session.execute(select(func.count()).select_from(Customer)).scalar_one() == 80
    assert session.execute(select(func.count(func.distinct(Order.customer_id)))).scalar_one() == 80
    spent = session.execute(select(func.sum(Customer.total_spent))).scalar_one()
    assert spent == Decimal("40") * 10 + Decimal("40") * 100


def test_an_emptied_checkout_is_not_abandoned(app, client, shop):
    from jobs.carts import mark_abandoned

    emptied = checkout_payload(token="chk-empty")
    emptied.update(line_items=[], total_price="0.00", subtotal_price="0.00")
    deliver(app, client, ("checkouts/create", emptied),
            ("checkouts/create", checkout_payload(token="chk-full")))
    db.session.close()
    assert mark_abandoned()["abandoned"] == {shop.id: 1}
    db.session.close()
    statuses = dict(db.session.execute(select(Cart.token, Cart.status)).all())
    assert statuses == {"chk-empty": "open", "chk-full": "abandoned"}


def _apply_in_one_batch(shop, records):
    from app.profiles.service import ProfileStore

    store = ProfileStore(db.session, shop.id)
    store.prefetch(records)
    for record in records:
        store.apply(record)
    published = store.finish()
    db.session.commit()
    db.session.close()
    return published


def test_a_batch_of_new_orders_publishes_each_fact_once(ctx, shop):
    """New profiles' and new orders' timeline rows skip the conflict check (COPY on
    PostgreSQL); a fact queued twice in one batch is still stored and published once."""
    from connectors.shopify.normalize import normalize

    records = []
    for k in range(40):
        buyer = customer_payload(email=f"buyer{k}@example.com")
        records += normalize("orders/create", order_payload(customer=buyer, total="10.00",
                                                            fulfillment_status="fulfilled"))
    records.append(records[0])  # the same version of an order twice in the batch
    published = _apply_in_one_batch(shop, records)

    # Per order: order_placed, order_paid, order_fulfilled; per buyer: customer_created.
    keys = [(e.customer_id, e.kind, e.ref) for e in published]
    assert len(keys) == len(set(keys)) == 40 * 4
    stored = db.session.execute(
        select(TimelineEvent.customer_id, TimelineEvent.kind, TimelineEvent.ref)).all()
    assert sorted(map(tuple, stored)) == sorted(keys)
    assert {e.kind for e in published} == {"customer_created", "order_placed", "order_paid",
                                           "order_fulfilled"}


def test_a_fresh_timeline_row_that_collides_takes_the_checked_path(ctx, shop, caplog):
    """Should a stored row already hold a "fresh" fact, the batch still lands: the stored row
    is kept, nothing is published twice, and the other facts go in."""
    from connectors.shopify.normalize import normalize

    buyer = customer_payload(email="known@example.com")
    _apply_in_one_batch(shop, normalize("customers/create", buyer))
    known = one_customer()
    orders = [order_payload(customer=buyer, total="10.00") for _ in range(40)]
    stray = str(orders[0]["id"])
    db.session.add(TimelineEvent(shop_id=shop.id, customer_id=known.id, kind="order_placed",
                                 ref=stray, occurred_at=known.created_at, data={"stray": True}))
    db.session.commit()

    records = [r for payload in orders for r in normalize("orders/create", payload)]
    published = _apply_in_one_batch(shop, records)

    assert "profiles.timeline_fresh_collision" in caplog.messages

    assert db.session.execute(select(func.count()).select_from(Order)).scalar_one() == 40
    keys = {(e.kind, e.ref) for e in published}
    assert ("order_placed", stray) not in keys
    assert ("order_paid", stray) in keys
    assert len(keys) == 40 * 2 - 1
    rows = db.session.execute(
        select(TimelineEvent.data).where(TimelineEvent.kind == "order_placed",
                                         TimelineEvent.ref == stray)).scalars().all()
    assert rows == [{"stray": True}]


def _timeline_rows():
    """The stored timeline, with `data.order_id` (a surrogate id) given as the platform id
    of the order it names."""
    db.session.close()
    platform_ids = dict(db.session.execute(select(Order.id, Order.platform_order_id)).all())
    rows = []
    for kind, ref, occurred_at, data in db.session.execute(select(
            TimelineEvent.kind, TimelineEvent.ref, TimelineEvent.occurred_at,
            TimelineEvent.data)).all():
        if data and "order_id" in data:
            data = {**data, "order_id": platform_ids[data["order_id"]]}
        rows.append((kind, ref, occurred_at, data))
    return sorted(rows)


def _history_batch(*, buyers: int = 40):
    """Records of a store's past: buyers and their orders (paid, some fulfilled, one
    cancelled, one in yen)."""
    from connectors.shopify.normalize import normalize

    records = []
    for k in range(buyers):
        buyer = customer_payload(email=f"past{k}@example.com")
        records += normalize("orders/create", order_payload(
            customer=buyer, total=f"{10 + k}.50", placed=k, updated=k + 5,
            fulfillment_status="fulfilled" if k % 2 else None, cancelled=k == 3))
    yen = order_payload(customer=customer_payload(email="yen@example.com"), total="1500")
    for money in ("total_price_set", "subtotal_price_set"):
        for side in yen[money].values():
            side["currency_code"] = "JPY"
    yen.update(currency="JPY", presentment_currency="JPY")
    records += normalize("orders/create", yen)
    return records


def _apply_history(shop, records, history_before):
    from app.profiles.service import ProfileStore

    store = ProfileStore(db.session, shop.id, history_before=history_before)
    store.prefetch(records)
    for record in records:
        store.apply(record)
    published = store.finish()
    db.session.commit()
    return published


def test_history_is_recorded_but_not_published(ctx, shop):
    """A backfill's past orders and profiles reach the timeline exactly as live deliveries
    of the same facts would (on PostgreSQL the server writes the orders' rows), but publish
    no domain events: importing a store's past must not award points or send emails."""
    from datetime import UTC, datetime

    records = _history_batch()
    after_all = datetime(2100, 1, 1, tzinfo=UTC)
    assert _apply_history(shop, records, history_before=after_all) == []
    history = _timeline_rows()

    db.session.execute(text("DELETE FROM timeline_events"))
    db.session.execute(text("DELETE FROM order_lines"))
    db.session.execute(text("DELETE FROM orders"))
    db.session.execute(text("DELETE FROM customers"))
    db.session.commit()
    published = _apply_history(shop, records, history_before=None)
    live = _timeline_rows()

    assert history == live
    # 41 profiles created and orders placed; 40 paid, 1 cancelled (voided), 20 fulfilled.
    assert len(published) == len(live) == 41 + 41 + 40 + 1 + 20
    kinds = {kind for kind, *_ in live}
    assert kinds == {"customer_created", "order_placed", "order_paid", "order_fulfilled",
                     "order_cancelled"}
    placed = [(ref, data) for kind, ref, _, data in live if kind == "order_placed"]
    assert all(data["order_id"] == ref for ref, data in placed)
    assert {"10.50", "49.50", "1500"} <= {data["total_price"] for _, data in placed}


def test_facts_after_the_cutoff_are_news(ctx, shop):
    """An order placed before the install but fulfilled after it: its placing is history,
    its fulfilment is news and is published."""
    from datetime import timedelta

    from connectors.shopify.normalize import normalize, parse_time

    buyer = customer_payload(email="late@example.com")
    payload = order_payload(customer=buyer, placed=0, updated=600,
                            fulfillment_status="fulfilled")
    cutoff = parse_time(payload["created_at"]) + timedelta(minutes=30)
    published = _apply_history(shop, normalize("orders/create", payload), cutoff)

    assert sorted(e.kind for e in published) == ["order_fulfilled", "order_paid"]
    assert [kind for kind, *_ in _timeline_rows()] == [
        "customer_created", "order_fulfilled", "order_paid", "order_placed"]


def test_a_history_timeline_row_that_collides_is_skipped(ctx, shop, caplog):
    """Should a stored row already hold a history order's fact, the batch still lands: the
    stored row is kept and the order's other facts go in."""
    from datetime import UTC, datetime

    from connectors.shopify.normalize import normalize

    buyer = customer_payload(email="known@example.com")
    _apply_in_one_batch(shop, normalize("customers/create", buyer))
    known = one_customer()
    payload = order_payload(customer=buyer, total="10.00", fulfillment_status="fulfilled")
    stray = str(payload["id"])
    db.session.add(TimelineEvent(shop_id=shop.id, customer_id=known.id, kind="order_placed",
                                 ref=stray, occurred_at=known.created_at, data={"stray": True}))
    db.session.commit()

    published = _apply_history(shop, normalize("orders/create", payload),
                               datetime(2100, 1, 1, tzinfo=UTC))

    assert published == []
    rows = {kind: data for kind, ref, _, data in _timeline_rows() if ref == stray}
    assert rows["order_placed"] == {"stray": True}
    assert set(rows) == {"order_placed", "order_paid", "order_fulfilled"}
    assert "profiles.timeline_fresh_collision" in caplog.messages
