"""Cross-sell from the store's own orders, on a small store counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.flows.crosssell import recommend
from tests.flows.store_rows import customer, order

T0 = datetime(2026, 3, 1, tzinfo=UTC)
A = ("A", "Linen shirt")
B_OLD, B = ("B", "Old linen trousers"), ("B", "Linen trousers")
C, D, E, F, G = (("C", "Canvas tote"), ("D", "Denim cap"), ("E", "Espadrilles"),
                 ("F", "Felt hat"), ("G", "Gift card"))


@pytest.fixture
def store(session, shop, other_shop):
    """Orders (A's companions): o1 A B C · o2 A B · o3 A B D · o4 A C · o5 B D (no A) ·
    o6 A E cancelled · o7 A E in another store. ana and bea bought A, then G separately."""
    s = shop.id
    ana, bea = customer(session, s, "ana"), customer(session, s, "bea")

    def at(day):
        return T0 + timedelta(days=day)

    order(session, s, ana, at(1), lines=[A, B_OLD, C])
    order(session, s, bea, at(2), lines=[A, B])
    order(session, s, None, at(3), lines=[A, B, D])
    order(session, s, None, at(4), lines=[A, C])
    order(session, s, None, at(5), lines=[B, D])
    order(session, s, None, at(6), lines=[A, E], cancelled=True)
    order(session, other_shop.id, None, at(7), lines=[A, E])
    order(session, s, ana, at(8), lines=[G])
    order(session, s, bea, at(9), lines=[G])
    session.commit()
    return shop


def test_recommends_what_is_most_often_in_the_same_orders(session, store):
    found = recommend(session, store.id, ["A"])

    # B is in 3 orders with A, C in 2; D in 1 (below the minimum support); E only in a
    # cancelled order and in another store's
    assert [(r["product_id"], r["orders_together"]) for r in found] == [("B", 3), ("C", 2)]
    # named as in its latest order, with a link to the store
    assert found[0]["title"] == "Linen trousers"
    assert found[0]["url"] == \
        "https://sticky-test.myshopify.com/search?type=product&q=Linen+trousers"


def test_several_products_and_a_limit(session, store):
    # orders with A or B: o1..o5 → C in o1 and o4, D in o3 and o5: a tie, by title
    assert [r["product_id"] for r in recommend(session, store.id, ["A", "B"])] == ["C", "D"]
    assert [r["product_id"] for r in recommend(session, store.id, ["A"], limit=1)] == ["B"]


def test_by_customer_counts_purchases_in_other_orders(session, store):
    found = recommend(session, store.id, ["A"], by="customer")
    # ana bought A with B and C, then G; bea A with B, then G: B and G by 2 customers each
    # (a tie, by title), C by ana alone; the guests' orders have no customer to follow
    assert [(r["product_id"], r["orders_together"]) for r in found] == [("G", 2), ("B", 2)]


def test_nothing_without_history(session, store, other_shop):
    assert recommend(session, store.id, ["Z"]) == []
    assert recommend(session, store.id, []) == []
    # another store's orders never count: there, A has only E once
    assert recommend(session, other_shop.id, ["A"]) == []
