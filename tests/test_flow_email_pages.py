"""The panel's email editor (its live preview for a real customer, refusals beside their
field, test sends), the outbox and the suppressed addresses, through the test client."""

from __future__ import annotations

import html
from email.message import EmailMessage

from app.flows.models import EmailSuppression, Flow, OutboxMail
from tests.customer_helpers import customer_row
from tests.flows_helpers import (  # noqa: F401 - `panel_fixture`: the `panel` fixture
    a_flow,
    a_message,
    panel_fixture,
    post,
    text_of,
)


def test_the_email_editor_previews_with_a_real_customer(panel, session, shop):
    customer_row(session, shop, first_name="Grace", email="grace@example.com")
    flow = a_flow(session, shop)
    session.commit()
    response = panel.get(f"/admin/flows/{flow.id}/steps/mail1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Welcome, Grace" in text_of(response)
    assert "grace@example.com" in page
    assert "srcdoc=" in page and "Hello Grace" in html.unescape(page)


def test_the_preview_endpoint_renders_as_typed_and_names_refusals(panel, session, shop):
    customer = customer_row(session, shop, first_name="Ada", email="ada@example.com")
    flow = a_flow(session, shop)
    session.commit()
    path = f"/admin/flows/{flow.id}/steps/mail1/preview"
    fields = {"subject": "Hi {{ customer.first_name }}", "preheader": "", "text": "",
              "html": "<b>{{ customer.email }}</b>", "customer_id": str(customer.id)}
    body = post(panel, path, fields, token_from=f"/admin/flows/{flow.id}/steps/mail1").get_json()
    assert body["subject"] == "Hi Ada" and "<b>ada@example.com</b>" in body["html"]
    assert "Content-Security-Policy" in body["html"]  # no script runs in the preview
    refused = post(panel, path, {**fields, "html": "{{ ''.__class__.__mro__ }}"},
                   token_from=f"/admin/flows/{flow.id}/steps/mail1").get_json()
    assert "__class__" in refused["errors"]["html"]
    broken = post(panel, path, {**fields, "subject": "{{ oops"},
                  token_from=f"/admin/flows/{flow.id}/steps/mail1").get_json()
    assert "subject" in broken["errors"]


def test_saving_the_email_keeps_it_and_a_syntax_error_stays_next_to_its_field(panel, session,
                                                                             shop):
    flow = a_flow(session, shop)
    session.commit()
    path = f"/admin/flows/{flow.id}/steps/mail1"
    fields = {"subject": "Thanks", "preheader": "A little gift inside",
              "html": "<p>{{ shop.name }}</p>", "text": ""}
    assert post(panel, path, fields).status_code == 302
    session.expire_all()
    step = session.get(Flow, flow.id).definition["steps"][1]
    assert step["subject"] == "Thanks" and step["preheader"] == "A little gift inside"
    assert step["text"] is None
    for bad in ("<p>{% if %}</p>", "<p>{{ ''.__class__.__mro__ }}</p>"):
        response = post(panel, path, {**fields, "html": bad})
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert 'id="html-error"' in page and 'id="email-errors"' in page
        session.expire_all()
        assert session.get(Flow, flow.id).version == 2
    assert "__class__" in text_of(response)


def test_the_outbox_lists_kept_mail_and_shows_one_message(panel, session, shop, other_shop):
    ada = customer_row(session, shop, email="ada@example.com")
    flow = a_flow(session, shop)
    message = a_message(session, flow, ada, subject="Welcome, Ada")
    mime = EmailMessage()
    mime["Subject"] = "Welcome, Ada"
    mime["To"] = "ada@example.com"
    mime["List-Unsubscribe"] = "<https://sticky.test/unsubscribe/abc>"
    mime.set_content("Hello Ada, plain.")
    mime.add_alternative('<p>Hello <b>Ada</b></p><img src="https://sticky.test/t/o/x">',
                         subtype="html")
    session.add(OutboxMail(shop_id=shop.id, message_pk=message.id, raw=mime.as_string()))
    theirs = customer_row(session, other_shop)
    their_flow = a_flow(session, other_shop)
    their_message = a_message(session, their_flow, theirs, subject="Not yours")
    session.add(OutboxMail(shop_id=other_shop.id, message_pk=their_message.id, raw="x"))
    session.commit()
    listing = panel.get("/admin/flows/outbox")
    assert listing.status_code == 200
    assert "Welcome, Ada" in text_of(listing) and "Not yours" not in text_of(listing)
    one = panel.get(f"/admin/flows/outbox/{message.id}")
    assert one.status_code == 200
    page = html.unescape(one.get_data(as_text=True))
    assert "List-Unsubscribe" in page and "Hello Ada, plain." in page
    assert "<b>Ada</b>" in page and "img-src data:" in page
    assert panel.get(f"/admin/flows/outbox/{their_message.id}").status_code == 404
    # the shopper's profile links the message to the outbox
    assert f'href="/admin/flows/outbox/{message.id}"' in panel.get(
        f"/admin/customers/{ada.id}").get_data(as_text=True)


def test_a_suppressed_address_is_listed_shown_on_the_profile_and_can_be_lifted(
        panel, session, shop, other_shop):
    ada = customer_row(session, shop, email="Ada@Example.com")
    flow = a_flow(session, shop)
    message = a_message(session, flow, ada, status="suppressed",
                        reason="550 mailbox unavailable", sent_at=None)
    row = EmailSuppression(shop_id=shop.id, email_normalized="ada@example.com",
                           reason="550 mailbox unavailable", message_pk=message.id)
    theirs = EmailSuppression(shop_id=other_shop.id, email_normalized="bo@example.com",
                              reason="550 no such user")
    session.add_all([row, theirs])
    session.commit()
    listing = text_of(panel.get("/admin/flows/suppressions"))
    assert "ada@example.com" in listing and "550 mailbox unavailable" in listing
    assert "bo@example.com" not in listing
    profile = panel.get(f"/admin/customers/{ada.id}").get_data(as_text=True)
    assert 'id="suppressed"' in profile
    # another store's suppression cannot be lifted from here
    assert post(panel, f"/admin/flows/suppressions/{theirs.id}/lift", {},
                token_from="/admin/flows/suppressions").status_code == 404
    response = post(panel, f"/admin/flows/suppressions/{row.id}/lift", {},
                    token_from="/admin/flows/suppressions")
    assert response.status_code == 302
    session.expire_all()
    assert session.get(EmailSuppression, row.id) is None
    assert session.get(EmailSuppression, theirs.id) is not None
    assert 'id="suppressed"' not in panel.get(f"/admin/customers/{ada.id}").get_data(
        as_text=True)


def test_a_test_send_to_a_bad_address_is_refused_beside_the_field(panel, session, shop):
    flow = a_flow(session, shop)
    session.commit()
    path = f"/admin/flows/{flow.id}/steps/mail1"
    response = post(panel, f"{path}/test", {"email": "not-an-address"}, token_from=path)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="email-error"' in page and "Not a valid email address: " in page
    # the merchant's own address is offered by default
    assert 'value="merchant@example.com"' in panel.get(path).get_data(as_text=True)


def test_a_test_send_lands_in_the_outbox_marked_as_a_test(panel, session, shop):
    from app.settings.service import update_settings

    update_settings(session, shop, {"sender_email": "hello@sticky-test.example"})
    customer_row(session, shop, first_name="Grace", email="grace@example.com")
    flow = a_flow(session, shop)
    session.commit()
    path = f"/admin/flows/{flow.id}/steps/mail1"
    response = post(panel, f"{path}/test", {"email": "me@example.com"}, token_from=path)
    assert response.status_code == 302
    assert "Test email sent to me@example.com" in text_of(panel.get(path))
    listing = text_of(panel.get("/admin/flows/outbox"))
    assert "Welcome, Grace" in listing and "Test" in listing


def test_the_preview_customer_can_be_any_of_the_store_but_never_of_another(panel, session,
                                                                           shop, other_shop):
    for n in range(26):
        customer_row(session, shop, first_name=f"Buyer{n}")
    quiet = customer_row(session, shop, first_name="Quentin", email="quentin@example.com")
    stranger = customer_row(session, other_shop, first_name="Stranger",
                            email="stranger@example.com")
    flow = a_flow(session, shop)
    session.commit()
    path = f"/admin/flows/{flow.id}/steps/mail1"
    assert "Welcome, Quentin" in text_of(panel.get(f"{path}?customer_id={quiet.id}"))
    page = text_of(panel.get(f"{path}?customer_id={stranger.id}"))
    assert "Stranger" not in page and "stranger@example.com" not in page
    body = post(panel, f"{path}/preview", {"subject": "{{ customer.email }}", "html": "x",
                                           "customer_id": str(stranger.id)},
                token_from=path).get_json()
    assert body["subject"] != "stranger@example.com"


def test_an_email_inside_a_split_is_edited_in_place(panel, session, shop):
    flow = a_flow(session, shop, steps=[{
        "id": "sp", "type": "split",
        "condition": {"field": "orders_count", "op": "gte", "value": 1},
        "yes": [{"id": "vip", "type": "email", "subject": "Thanks again", "html": "<p>Hi</p>",
                 "text": None}],
        "no": [{"id": "new", "type": "email", "subject": "Welcome", "html": "<p>Hey</p>",
                "text": None}]}])
    session.commit()
    path = f"/admin/flows/{flow.id}/steps/new"
    fields = {"subject": "Welcome, friend", "preheader": "", "html": "<p>Hello</p>",
              "text": "Hello"}
    assert post(panel, path, fields).status_code == 302
    session.expire_all()
    split = session.get(Flow, flow.id).definition["steps"][0]
    assert split["no"][0]["subject"] == "Welcome, friend" and split["no"][0]["text"] == "Hello"
    assert split["yes"][0]["subject"] == "Thanks again"
    response = post(panel, path, {**fields, "subject": "{{ customer.__class__ }}"})
    assert response.status_code == 400
    assert 'id="subject-error"' in response.get_data(as_text=True)
