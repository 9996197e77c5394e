"""A customer's profile page (`/admin/customers/<id>`): what it shows, notes and tags added
and removed through both doors, validation next to the field, CSRF, escaping, scoping."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.customers.models import CustomerNote, CustomerTag
from app.profiles.models import Cart, Customer, TimelineEvent
from tests.conftest import post_webhook, run_worker
from tests.customer_helpers import csrf_from, customer_row, session_token, sign_in
from tests.factories import checkout_payload, customer_payload, order_payload, refund_payload

SHOP = "sticky-test.myshopify.com"


@pytest.fixture
def ada(app, client, session, shop):
    """Ada through real webhooks: registered, subscribed, two orders (one refunded in part,
    one cancelled), and a checkout left open."""
    person = customer_payload(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    embedded = {k: person[k] for k in ("id", "email", "first_name", "last_name")}
    kept = order_payload(customer=embedded, total="80.00", placed=0)
    kept["name"] = "#1001"
    cancelled = order_payload(customer=embedded, total="25.00", placed=60, cancelled=True)
    cancelled["name"] = "#1002"
    for topic, payload in [
        ("customers/create", person), ("orders/create", kept), ("orders/create", cancelled),
        ("refunds/create", refund_payload(order_id=kept["id"], amount="30.00")),
        ("checkouts/create", checkout_payload(token="chk-ada", email="ada@example.com",
                                              customer=embedded, updated=120)),
        ("customers_email_marketing_consent/update", {
            "customer_id": person["id"], "email_address": "ada@example.com",
            "email_marketing_consent": {"state": "subscribed",
                                        "opt_in_level": "single_opt_in",
                                        "consent_updated_at": "2026-03-01T12:30:00+00:00"}}),
    ]:
        assert post_webhook(client, topic, payload).status_code == 200
    run_worker(app)
    session.rollback()
    return session.execute(select(Customer).where(
        Customer.email_normalized == "ada@example.com")).scalar_one()


@pytest.fixture
def signed_in(client, session, shop):
    return sign_in(client, session, shop)


def _profile(client, customer_id: int) -> str:
    response = client.get(f"/admin/customers/{customer_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _post(client, path: str, data: dict | None = None, **kwargs):
    token = csrf_from(client, "/admin/customers")  # the session's token (any panel form)
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def test_the_profile_shows_contact_figures_orders_carts_and_timeline(client, ada, signed_in):
    html = _profile(client, ada.id)
    # title, back link, contact and consent
    assert '<h1 class="Page-title">Ada Lovelace' in html
    assert 'class="Page-back" href="/admin/customers"' in html
    assert "ada@example.com" in html and "Subscribed" in html
    assert "Mar 1, 2026, 12:30 PM" in html  # when consent changed (the store's zone: UTC)
    assert ada.platform_customer_id in html and "Registered" in html
    # lifetime figures with their definitions: the cancelled order does not count
    assert re.search(r'data-metric="Orders">1<', html)
    assert re.search(r'data-metric="Amount spent">\$50\.00<', html)
    assert "net of refunds" in html
    # orders with lines, refunds and badges
    assert "#1001" in html and "#1002" in html
    assert "Cancelled" in html and "Partially refunded" in html
    assert "Refunded <span class=\"text-strong\">$30.00</span>" in html
    assert "1 ×" in html
    # the open checkout with its recovery link
    assert 'href="https://sticky-test.myshopify.com/checkouts/chk-ada/recover?key=k"' in html
    # and the timeline in sentences, newest first
    timeline = html[html.index('id="timeline"'):]
    sentences = re.findall(r"<li [^>]*>\s*<div>\s*<div>(.*?)</div>", timeline)
    assert sentences == [
        "Started a checkout worth $421.88",    # the published sample's total
        "Refunded $30.00 on order #1001",
        "Placed order #1002 for $25.00",
        "Subscribed to email marketing",
        "Order #1002 was cancelled",           # the sample's cancelled_at
        "Paid for order #1001",
        "Placed order #1001 for $80.00",
        "Created a customer account",
    ]


def test_an_abandoned_checkout_shows_its_recovery_link_only_if_it_is_a_web_address(
        client, session, shop, signed_in):
    customer = customer_row(session, shop, first_name="Bo")
    for token, url in (("a", "https://shop.example/recover/a"), ("b", "javascript:alert(1)")):
        session.add(Cart(shop_id=shop.id, customer_id=customer.id, kind="checkout",
                         token=token, status="abandoned", recovery_url=url))
    session.commit()
    html = _profile(client, customer.id)
    assert 'href="https://shop.example/recover/a"' in html
    assert "javascript:alert" not in html
    assert html.count("Abandoned") == 2


def test_another_stores_customer_is_a_404_page(client, session, other_shop, signed_in):
    theirs = customer_row(session, other_shop, first_name="Elsewhere")
    session.commit()
    for response in (client.get(f"/admin/customers/{theirs.id}"),
                     _post(client, f"/admin/customers/{theirs.id}/notes", {"body": "hi"}),
                     _post(client, f"/admin/customers/{theirs.id}/tags", {"tag": "x"})):
        assert response.status_code == 404
        assert "No customer" in response.get_data(as_text=True)
        assert "Elsewhere" not in response.get_data(as_text=True)
    assert session.execute(select(CustomerNote)).first() is None


def test_a_note_is_stored_with_its_author_and_shown_on_the_timeline(
        client, session, shop, signed_in):
    customer = customer_row(session, shop, first_name="Bo")
    session.commit()
    response = _post(client, f"/admin/customers/{customer.id}/notes",
                     {"body": "  Prefers phone calls.\nNot before 10am.  "})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/customers/{customer.id}#notes")
    html = _profile(client, customer.id)
    assert "Note added." in html  # the flash
    assert "Prefers phone calls.\nNot before 10am.</p>" in html  # trimmed, lines kept
    assert "merchant@example.com" in html
    assert "Note added by merchant@example.com" in html
    session.rollback()
    note = session.execute(select(CustomerNote)).scalar_one()
    assert note.author == "merchant@example.com"
    event = session.execute(select(TimelineEvent)).scalar_one()
    assert (event.kind, event.ref) == ("note_added", f"note:{note.id}")


def test_tags_are_unique_in_any_case_and_can_be_removed(client, session, shop, signed_in):
    customer = customer_row(session, shop, first_name="Bo")
    session.commit()
    path = f"/admin/customers/{customer.id}/tags"
    assert _post(client, path, {"tag": " VIP "}).status_code == 302
    assert "Tagged “VIP”." in _profile(client, customer.id)
    assert _post(client, path, {"tag": "vip"}).status_code == 302
    html = _profile(client, customer.id)
    assert "already tagged “VIP”" in html
    session.rollback()
    (tag,) = session.execute(select(CustomerTag)).scalars().all()
    assert tag.tag == "VIP"
    # when it is removed
    response = _post(client, f"{path}/{tag.id}/delete")
    assert response.status_code == 302
    html = _profile(client, customer.id)
    assert "Removed the tag “VIP”." in html
    assert 'aria-label="Remove tag VIP"' not in html
    assert "Tag “VIP” removed by merchant@example.com" in html
    assert "Tagged “VIP” by merchant@example.com" in html
    # and removing it again is a 404 page, not an error
    assert _post(client, f"{path}/{tag.id}/delete").status_code == 404
    session.rollback()
    kinds = sorted(session.execute(select(TimelineEvent.kind)).scalars())
    assert kinds == ["tag_added", "tag_removed"]


@pytest.mark.parametrize("form, data, message", [
    ("notes", {"body": "   "}, "Write something in the note."),
    ("notes", {"body": "x" * 5001}, "Keep the note to 5,000 characters (this one has 5,001)."),
    ("tags", {"tag": ""}, "Enter a tag."),
    ("tags", {"tag": "y" * 65}, "Keep the tag to 64 characters (this one has 65)."),
    ("tags", {"tag": "a,b"}, "A tag cannot contain a comma"),
])
def test_invalid_notes_and_tags_are_explained_next_to_the_field(
        client, session, shop, signed_in, form, data, message):
    customer = customer_row(session, shop, first_name="Bo")
    session.commit()
    response = _post(client, f"/admin/customers/{customer.id}/{form}", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    field = "body" if form == "notes" else "tag"
    error = re.search(rf'id="{field}-error">.*?<span>(.*?)</span>', html, re.S)
    assert error and message in error.group(1)
    session.rollback()
    assert session.execute(select(CustomerNote)).first() is None
    assert session.execute(select(CustomerTag)).first() is None


def test_a_standalone_post_without_the_csrf_token_is_refused(client, session, shop,
                                                              signed_in):
    customer = customer_row(session, shop, first_name="Bo")
    session.commit()
    for path, data in ((f"/admin/customers/{customer.id}/notes", {"body": "hello"}),
                       (f"/admin/customers/{customer.id}/tags", {"tag": "VIP"})):
        response = client.post(path, data=data)
        assert response.status_code == 400
        assert "This form has expired" in response.get_data(as_text=True)
    session.rollback()
    assert session.execute(select(CustomerNote)).first() is None
    assert session.execute(select(CustomerTag)).first() is None


def test_every_form_on_the_profile_carries_the_csrf_token(client, session, shop, signed_in):
    customer = customer_row(session, shop, first_name="Bo")
    session.commit()
    _post(client, f"/admin/customers/{customer.id}/tags", {"tag": "VIP"})
    html = _profile(client, customer.id)
    forms = re.findall(r"<form method=\"post\" action=\"/admin/customers.*?</form>", html, re.S)
    assert len(forms) == 4  # remove tag, add tag, add note, adjust points
    assert all('name="csrf_token"' in form for form in forms)


def test_an_embedded_post_carries_the_session_token_and_records_shopify_staff(
        client, session, shop):
    customer = customer_row(session, shop, first_name="Bo")
    session.commit()
    path = f"/admin/customers/{customer.id}/notes?shop={SHOP}&host=aG9zdA&embedded=1"
    refused = client.post(path, data={"body": "hello"})
    assert refused.status_code == 401
    response = client.post(path, data={"body": "hello", "id_token": session_token(SHOP)})
    assert response.status_code == 302
    assert f"shop={SHOP}" in response.headers["Location"]
    session.rollback()
    assert session.execute(select(CustomerNote.author)).scalar_one() == "Shopify staff"


def test_names_notes_and_tags_from_the_internet_are_shown_as_text(client, session, shop,
                                                                  signed_in):
    customer = customer_row(session, shop, first_name="<script>alert(1)</script>",
                            last_name=None, tags="<i>store tag</i>")
    session.commit()
    _post(client, f"/admin/customers/{customer.id}/notes",
          {"body": "<img src=x onerror=alert(2)>"})
    _post(client, f"/admin/customers/{customer.id}/tags", {"tag": "<b>bold</b>"})
    html = _profile(client, customer.id)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "&lt;i&gt;store tag&lt;/i&gt;" in html
    for raw in ("<script>alert(1)", "<img src=x", "<b>bold", "<i>store"):
        assert raw not in html


def test_the_embedded_pages_keep_the_stores_parameters_and_export_through_the_api(
        client, session, shop):
    from tests.test_shopify_tokens import session_token as app_bridge_token

    shop.demo = True  # opens without exchanging the session token with Shopify
    customer = customer_row(session, shop, first_name="Bo", total_spent=5, orders_count=1)
    session.commit()
    embedded = f"shop={SHOP}&host=aG9zdA&embedded=1"
    response = client.get(f"/admin/customers?{embedded}&id_token={app_bridge_token(SHOP)}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # the filter form (a GET) carries the store's parameters, links keep them
    for name, value in (("shop", SHOP), ("host", "aG9zdA"), ("embedded", "1")):
        assert f'<input type="hidden" name="{name}" value="{value}">' in html
    assert f'href="/admin/customers/{customer.id}?shop={SHOP}&amp;embedded=1&amp;host=aG9zdA"' \
        in html
    # the export button fetches /api (App Bridge adds the session token to fetch calls)
    assert 'data-api-url="/api/customers/export.csv"' in html
    assert "<ui-nav-menu>" in html
    profile = client.get(f"/admin/customers/{customer.id}?{embedded}"
                         f"&id_token={app_bridge_token(SHOP)}").get_data(as_text=True)
    assert 'name="csrf_token"' not in profile  # embedded posts carry a session token instead
    assert f'action="/admin/customers/{customer.id}/notes?shop={SHOP}' in profile
