"""The customer list (`app.customers.query`), through `GET /api/customers` and the panel's
`/admin/customers`: search, filters, sorts, pages, validation and store scoping."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.customers.models import CustomerNote
from app.customers.notes import add_tag
from tests.customer_helpers import api_key_headers, customer_row, sign_in


@pytest.fixture
def people(session, shop, other_shop):
    """Ada (3 orders), Bo (1 order, late on 28 Feb in New York), Cleo (none; tagged and
    noted by the merchant), Dee (deleted in the store), and Ada's namesake in another store."""
    shop.timezone = "America/New_York"
    ada = customer_row(session, shop, first_name="Ada", last_name="Lovelace",
                       email="ada@example.com", orders_count=3, total_spent=Decimal("300.00"),
                       last_order_at=datetime(2026, 3, 10, 12, tzinfo=UTC),
                       email_marketing="subscribed", tags="vip, newsletter",
                       platform_created_at=datetime(2025, 1, 1, tzinfo=UTC))
    bo = customer_row(session, shop, first_name="Bo", last_name="Smith", email="bo@shop.test",
                      orders_count=1, total_spent=Decimal("20.50"),
                      last_order_at=datetime(2026, 3, 1, 2, tzinfo=UTC),
                      email_marketing="unsubscribed",
                      platform_created_at=datetime(2025, 6, 1, tzinfo=UTC))
    cleo = customer_row(session, shop, first_name="Cleo", last_name="Nguyen",
                        email="cleo@example.com",
                        platform_created_at=datetime(2026, 2, 1, tzinfo=UTC))
    customer_row(session, shop, first_name="Dee", last_name="Deleted", email="dee@example.com",
                 orders_count=5, total_spent=Decimal("999"),
                 deleted_at=datetime(2026, 3, 2, tzinfo=UTC))
    customer_row(session, other_shop, first_name="Ada", last_name="Elsewhere",
                 email="ada@other.test", orders_count=9, total_spent=Decimal("5000"))
    add_tag(session, cleo, "Wholesale", "merchant@example.com")
    session.add(CustomerNote(shop_id=shop.id, customer_id=cleo.id, author="a@b.c",
                             body="Met at the 100% cotton trade fair"))
    session.commit()
    return {"ada": ada, "bo": bo, "cleo": cleo}


def _names(client, headers, **query) -> list[str]:
    response = client.get("/api/customers", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return [c["first_name"] for c in response.get_json()["customers"]]


@pytest.fixture
def api(session, shop):
    return api_key_headers(session, shop)


def test_the_list_shows_the_stores_own_profiles_newest_buyers_first(client, people, api):
    body = client.get("/api/customers", headers=api).get_json()
    assert [c["first_name"] for c in body["customers"]] == ["Ada", "Bo", "Cleo"]
    assert body["total"] == 3  # not Dee (deleted), not the other store's Ada
    assert body["customers"][2]["merchant_tags"] == ["Wholesale"]
    assert body["customers"][0]["total_spent"] == "300.00"


@pytest.mark.parametrize("q, expected", [
    ("ada", ["Ada"]),
    ("LOVELACE", ["Ada"]),
    ("ada love", ["Ada"]),            # across first and last name
    ("shop.test", ["Bo"]),            # part of an email
    ("newsletter", ["Ada"]),          # the store's own tags
    ("wholesale", ["Cleo"]),          # a merchant tag
    ("TRADE FAIR", ["Cleo"]),         # a merchant note
    ("100%", ["Cleo"]),               # % is a character, not a wildcard
    ("@EXAMPLE.com", ["Ada", "Cleo"]),
    ("deleted", []),
    ("elsewhere", []),                # another store's customer
])
def test_search_matches_names_emails_tags_and_notes(client, people, api, q, expected):
    assert _names(client, api, q=q) == expected


@pytest.mark.parametrize("query, expected", [
    ({"has_orders": "yes"}, ["Ada", "Bo"]),
    ({"has_orders": "no"}, ["Cleo"]),
    ({"email_marketing": "subscribed"}, ["Ada"]),
    ({"email_marketing": "unsubscribed"}, ["Bo"]),
    ({"email_marketing": "not_subscribed"}, ["Cleo"]),
    # Bo's last order was 1 March 02:00 UTC: 28 February, 21:00 in the store's New York
    ({"last_order_from": "2026-03-01"}, ["Ada"]),
    ({"last_order_to": "2026-02-28"}, ["Bo"]),
    ({"last_order_from": "2026-02-28", "last_order_to": "2026-03-10"}, ["Ada", "Bo"]),
    ({"min_spent": "20.50"}, ["Ada", "Bo"]),
    ({"min_spent": "20.51"}, ["Ada"]),
    ({"max_spent": "20.5"}, ["Bo", "Cleo"]),
    ({"min_spent": "1", "max_spent": "100"}, ["Bo"]),
    ({"tag": "wholesale"}, ["Cleo"]),
    ({"tag": "Whole"}, []),           # a tag filter is the whole tag
    ({"email": "ADA@example.com"}, ["Ada"]),
    ({"email": "ada"}, []),           # exact, and never "profiles without an email"
    ({"has_orders": "yes", "email_marketing": "subscribed", "q": "ada"}, ["Ada"]),
])
def test_each_filter(client, people, api, query, expected):
    assert _names(client, api, **query) == expected


@pytest.mark.parametrize("sort, expected", [
    ("-last_order_at", ["Ada", "Bo", "Cleo"]),    # never ordered: last
    ("last_order_at", ["Cleo", "Bo", "Ada"]),     # ... and first when oldest first
    ("-total_spent", ["Ada", "Bo", "Cleo"]),
    ("total_spent", ["Cleo", "Bo", "Ada"]),
    ("-orders_count", ["Ada", "Bo", "Cleo"]),
    ("orders_count", ["Cleo", "Bo", "Ada"]),
    ("name", ["Ada", "Bo", "Cleo"]),
    ("-name", ["Cleo", "Bo", "Ada"]),
    ("email", ["Ada", "Bo", "Cleo"]),              # ada@e..., bo@s..., cleo@e...
    ("-email", ["Cleo", "Bo", "Ada"]),
    ("created_at", ["Ada", "Bo", "Cleo"]),         # the store's creation dates
    ("-created_at", ["Cleo", "Bo", "Ada"]),
])
def test_each_sort(client, people, api, sort, expected):
    assert _names(client, api, sort=sort) == expected


def test_blank_names_and_emails_sort_last_both_ways(client, session, shop, api):
    customer_row(session, shop, first_name="Zed", last_name=None, email="zed@example.com")
    customer_row(session, shop, first_name=None, last_name=None, email=None)
    customer_row(session, shop, first_name="Amy", last_name=None, email="amy@example.com")
    session.commit()
    assert _names(client, api, sort="name") == ["Amy", "Zed", None]
    assert _names(client, api, sort="-name") == ["Zed", "Amy", None]
    assert _names(client, api, sort="-email") == ["Zed", "Amy", None]


@pytest.mark.parametrize("sort", ["-last_order_at", "last_order_at", "-total_spent",
                                  "total_spent", "name", "-orders_count", "-created_at"])
def test_pages_put_together_are_the_whole_list(client, session, shop, api, sort):
    # given 11 customers with many ties (ties are ordered by id, on every page)
    for i in range(11):
        customer_row(session, shop, first_name=f"P{i % 4}", total_spent=Decimal(i % 3 * 10),
                     orders_count=i % 3,
                     last_order_at=datetime(2026, 1, 1 + i % 2, tzinfo=UTC) if i % 3 else None)
    session.commit()
    whole = client.get("/api/customers", query_string={"sort": sort, "per_page": 250},
                       headers=api).get_json()
    ids = [c["id"] for c in whole["customers"]]
    # when it is read 3 at a time (pages past the middle are read from the other end)
    paged = []
    for page in (1, 2, 3, 4):
        body = client.get("/api/customers", query_string={"sort": sort, "per_page": 3,
                                                          "page": page}, headers=api).get_json()
        assert body["total"] == 11 and body["page"] == page
        paged += [c["id"] for c in body["customers"]]
    # then the pages hold every customer once, in the same order
    assert paged == ids and len(set(ids)) == 11
    beyond = client.get("/api/customers", query_string={"sort": sort, "per_page": 3,
                                                        "page": 5}, headers=api).get_json()
    assert beyond["customers"] == [] and beyond["total"] == 11


@pytest.mark.parametrize("query, field, words", [
    ({"has_orders": "maybe"}, "has_orders", "Choose yes or no"),
    ({"email_marketing": "yes"}, "email_marketing", "Choose subscribed"),
    ({"last_order_from": "03/01/2026"}, "last_order_from", "YYYY-MM-DD"),
    ({"last_order_from": "2026-02-30"}, "last_order_from", "does not exist"),
    ({"last_order_from": "2026-03-02", "last_order_to": "2026-03-01"}, "last_order_to",
     "on or after"),
    ({"min_spent": "lots"}, "min_spent", "like 25 or 99.50"),
    ({"min_spent": "-1"}, "min_spent", "0 or more"),
    ({"max_spent": "NaN"}, "max_spent", "like 25 or 99.50"),
    ({"min_spent": "1e400"}, "min_spent", "below 100,000,000,000,000"),
    ({"last_order_to": "٢٠٢٦-٠٣-٠١"}, "last_order_to", "YYYY-MM-DD"),  # Arabic-Indic digits
    ({"min_spent": "10", "max_spent": "5"}, "max_spent", "at least as large"),
    ({"sort": "price"}, "sort", "Sort by one of"),
    ({"q": "x" * 256}, "q", "at most 255"),
])
def test_invalid_filters_are_400_in_the_api_and_messages_on_the_page(
        client, session, shop, people, api, query, field, words):
    response = client.get("/api/customers", query_string=query, headers=api)
    assert response.status_code == 400
    assert f"{field}: " in response.get_json()["message"]
    assert words in response.get_json()["message"]
    # and the panel says the same next to the field (or in a banner for hidden ones)
    sign_in(client, session, shop)
    page = client.get("/admin/customers", query_string=query)
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    if field == "sort":
        assert "Some of this page" in html and "Sort by one of" in html
    else:
        error = re.search(rf'id="{field}-error">.*?<span>(.*?)</span>', html, re.S)
        assert error and words in error.group(1)
        assert 'aria-invalid="true"' in html
    assert 'id="customers-table"' not in html


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "x"}, {"per_page": "251"},
                                   {"page": "9" * 30}])
def test_bad_paging_is_400(client, people, api, query):
    response = client.get("/api/customers", query_string=query, headers=api)
    assert response.status_code == 400
    assert next(iter(query)) in response.get_json()["message"]


def test_the_panel_list_pages_sorts_and_filters(client, session, shop):
    # given 120 customers, 60 of them subscribed
    for i in range(120):
        customer_row(session, shop, first_name=f"Shopper{i:03d}", total_spent=Decimal(i),
                     orders_count=1, email_marketing="subscribed" if i % 2 else "unsubscribed",
                     last_order_at=datetime(2026, 1, 1, tzinfo=UTC))
    session.commit()
    sign_in(client, session, shop)
    # when the merchant opens page 2 sorted by amount spent, largest first
    html = client.get("/admin/customers?sort=-total_spent&page=2").get_data(as_text=True)
    # then it shows rows 51-100 with the summary, and links keep the sort
    assert "51–100 of 120" in html
    names = re.findall(r"Shopper\d{3}", html)
    assert names[0] == "Shopper069" and names[-1] == "Shopper020" and len(names) == 50
    assert 'href="/admin/customers?sort=-total_spent&amp;page=3"' in html
    assert 'href="/admin/customers?sort=-total_spent&amp;page=1"' in html
    assert 'aria-sort="descending"' in html
    assert 'href="/admin/customers?sort=total_spent"' in html  # the header flips it
    # and a filter narrows the count, shown as a removable chip
    html = client.get("/admin/customers?email_marketing=subscribed").get_data(as_text=True)
    assert "1–50 of 60" in html and "Email marketing: subscribed" in html
    assert '<option selected value="subscribed">' in html
    # and a page past the end goes to the last page
    response = client.get("/admin/customers?email_marketing=subscribed&page=9")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("email_marketing=subscribed&page=2")


def test_empty_states_explain_themselves(client, session, shop, other_shop):
    customer_row(session, other_shop, first_name="Elsewhere")
    session.commit()
    sign_in(client, session, shop)
    html = client.get("/admin/customers").get_data(as_text=True)
    assert "No customers yet" in html and "Elsewhere" not in html
    assert "Export CSV" not in html
    customer_row(session, shop, first_name="Ada")
    session.commit()
    html = client.get("/admin/customers?q=zebra").get_data(as_text=True)
    assert "No customer matches these filters" in html
    assert 'href="/admin/customers">Clear filters' in html


def test_names_from_the_internet_are_shown_as_text_in_the_list(client, session, shop):
    customer = customer_row(session, shop, first_name="<script>alert(1)</script>",
                            last_name='"><img src=x onerror=alert(2)>')
    add_tag(session, customer, "<b>bold</b>", "a@b.c")
    session.commit()
    sign_in(client, session, shop)
    html = client.get("/admin/customers").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html


def test_the_list_needs_a_signed_in_account(client, people):
    response = client.get("/admin/customers")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
