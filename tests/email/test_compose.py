"""The MIME message: sender from the store's settings, the unsubscribe headers (RFC 8058),
the open pixel, click redirects on signed tokens, and no tracking for test sends."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from app.email import tokens
from app.email.compose import compose, envelope_for
from app.email.render import render_email, sample_variables
from app.settings.service import update_settings

STEP = {
    "subject": "Your cart at {{ shop.name }} — still here",
    "html": """{% extends "layout.html" %}{% import "_components.html" as c %}
{% block content %}<p>Hi {{ customer.first_name }}</p>
{{ c.button(checkout.recovery_url, "Return to your cart") }}
<a href="https://harbour-goods.example.com/p?a=1&amp;b=2">Linen</a>
<a href="mailto:help@harbour-goods.example.com">Write to us</a>{% endblock %}""",
}


def _parsed(msg):
    return message_from_bytes(msg.as_bytes(), policy=policy.default)


def _rendered(message_pk: int | None):
    variables = {**sample_variables(),
                 "unsubscribe_url": tokens.url("unsubscribe", message_pk or 0)}
    return render_email(STEP, variables)


def test_a_flow_message_has_its_headers_both_parts_and_tracking(session, shop):
    # given a store that chose its sender, and message 41's rendered email
    update_settings(session, shop, {"sender_name": "Harbour Goods",
                                    "sender_email": "hello@harbour.example",
                                    "reply_to": "care@harbour.example"})
    session.commit()
    envelope = envelope_for(session, shop, "maya@example.com", message_pk=41)

    # when it is composed
    msg = _parsed(compose(_rendered(41), envelope, message_pk=41))

    # then the headers are the store's, with one-click unsubscribe
    assert msg["From"] == "Harbour Goods <hello@harbour.example>"
    assert msg["To"] == "maya@example.com"
    assert msg["Reply-To"] == "care@harbour.example"
    assert msg["Subject"] == "Your cart at Harbour Goods — still here"
    assert msg["Date"]
    assert re.fullmatch(r"<[^@>]+@harbour\.example>", msg["Message-ID"])
    unsubscribe = tokens.url("unsubscribe", 41)
    assert msg["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]

    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    # the open pixel is the open token of message 41
    pixel = re.search(r'<img src="https://sticky\.test/t/o/([^"]+)" width="1" height="1"', html)
    assert pixel and tokens.load("open", pixel.group(1)) == 41
    # every http(s) link is a click redirect carrying [message, url] ...
    clicks = [tokens.load("click", t) for t in re.findall(r'href="https://sticky\.test/t/c/([^"]+)"',
                                                          html)]
    assert [41, "https://harbour-goods.example.com/checkouts/c/abc123"] in clicks
    assert [41, "https://harbour-goods.example.com/p?a=1&b=2"] in clicks
    assert all(message_pk == 41 for message_pk, _ in clicks)
    assert not re.search(r'href="https://harbour-goods', html)
    # ... but mailto and the unsubscribe link are left alone, in both parts
    assert 'href="mailto:help@harbour-goods.example.com"' in html
    assert f'href="{unsubscribe}"' in html
    assert f"Unsubscribe ({unsubscribe})" in text
    text_clicks = [tokens.load("click", t) for t in re.findall(r"https://sticky\.test/t/c/([\w.-]+)",
                                                               text)]
    assert [41, "https://harbour-goods.example.com/checkouts/c/abc123"] in text_clicks
    assert "https://harbour-goods.example.com/checkouts/c/abc123" not in text


def test_a_test_send_is_not_tracked_and_has_a_default_sender(session, shop):
    # given a store that has chosen no sender address yet
    envelope = envelope_for(session, shop, "merchant@example.com")

    msg = _parsed(compose(_rendered(None), envelope))

    assert msg["From"].endswith("<no-reply@sticky.test>")
    assert msg["List-Unsubscribe"] is None
    html = msg.get_body(("html",)).get_content()
    assert "/t/o/" not in html and "/t/c/" not in html
    assert 'href="https://harbour-goods.example.com/checkouts/c/abc123"' in html


def test_a_template_without_the_unsubscribe_link_gets_one(session, shop):
    # given a bare template that forgot the link
    rendered = render_email({"subject": "Hi", "html": "<html><body><p>Hi</p></body></html>"},
                            sample_variables())
    envelope = envelope_for(session, shop, "maya@example.com", message_pk=7)

    msg = _parsed(compose(rendered, envelope, message_pk=7))

    # then both parts carry it, untracked
    unsubscribe = tokens.url("unsubscribe", 7)
    html = msg.get_body(("html",)).get_content()
    assert f'<a href="{unsubscribe}" style="color:#6d7175;">Unsubscribe</a></p>' in html
    assert html.index("Unsubscribe</a>") < html.index("</body>")
    assert msg.get_body(("plain",)).get_content().rstrip().endswith(
        f"Unsubscribe: {unsubscribe}")


def test_the_sender_name_follows_the_store_name(session, shop):
    shop.name = "Sticky Test Store"
    session.commit()
    envelope = envelope_for(session, shop, "a@example.com", message_pk=1)
    assert envelope.sender_name == "Sticky Test Store"
    assert envelope.unsubscribe_url == tokens.url("unsubscribe", 1)


def test_a_token_carries_the_message_id_only(ctx):
    # the unsubscribe and open tokens name the message, nothing about the shopper
    token = tokens.url("unsubscribe", 41).rsplit("/", 1)[1]
    assert tokens.load("unsubscribe", token) == 41
    assert "maya" not in token.lower()


def test_non_ascii_names_and_subjects_are_encoded_and_line_breaks_never_reach_a_header(ctx):
    from app.email.compose import Envelope
    from app.email.render import RenderedEmail

    rendered = RenderedEmail("Dein Warenkorb — schön\r\nBcc: victim@example.com",
                             "<p>Grüße</p>", "Grüße\n")
    envelope = Envelope("Läden & Söhne", "hallo@laden.example", None, "jörg@example.com")

    raw = compose(rendered, envelope, message_pk=5).as_bytes()
    msg = message_from_bytes(raw, policy=policy.default)

    assert raw.isascii() or b"j\xc3\xb6rg" in raw
    assert msg["Subject"] == "Dein Warenkorb — schön Bcc: victim@example.com"
    assert msg["Bcc"] is None
    assert msg["From"].addresses[0].display_name == "Läden & Söhne"
    assert msg.get_body(("plain",)).get_content().startswith("Grüße")
    assert all(len(line) <= 998 for line in raw.replace(b"\r\n", b"\n").split(b"\n"))
