"""The whole pipeline against the test SMTP server: render in the sandbox → inline CSS →
text part → compose with headers and tracking → hand over → what the server received."""

from __future__ import annotations

import re

from app.email import tokens
from app.email.compose import compose, envelope_for
from app.email.render import render_email, sample_variables
from app.email.transport import open_transport
from app.settings.service import update_settings

STEP = {
    "subject": "{{ customer.first_name }}, your cart at {{ shop.name }}",
    "preheader": "{{ checkout.items|length }} items are waiting",
    "html": """{% extends "layout.html" %}{% import "_components.html" as c %}
{% block content %}<h1>Still thinking, {{ customer.first_name }}?</h1>
{{ c.items(checkout.items, checkout.currency) }}
{{ c.button(checkout.recovery_url, "Return to your cart") }}{% endblock %}""",
    "text": None,
}


def test_a_rendered_email_arrives_with_its_headers_parts_and_links(app, session, shop,
                                                                   smtp_server):
    # given a store with its sender, and message 77's variables
    update_settings(session, shop, {"sender_name": "Harbour Goods",
                                    "sender_email": "hello@harbour.example"})
    session.commit()
    variables = {**sample_variables(), "unsubscribe_url": tokens.url("unsubscribe", 77)}

    # when it is rendered, composed and handed to the server
    rendered = render_email(STEP, variables)
    msg = compose(rendered, envelope_for(session, shop, "maya@example.com", message_pk=77),
                  message_pk=77)
    transport = open_transport(app)
    transport.send(msg)
    transport.close()

    # then the server has one message, as a mail client would show it
    (received,) = smtp_server.to("maya@example.com")
    assert received["Subject"] == "Maya, your cart at Harbour Goods"
    assert received["From"] == "Harbour Goods <hello@harbour.example>"
    assert received["List-Unsubscribe"] == f"<{tokens.url('unsubscribe', 77)}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Message-ID"] == msg["Message-ID"]
    html = received.get_body(("html",)).get_content()
    text = received.get_body(("plain",)).get_content()
    assert "2 items are waiting" in html and "Linen shirt" in html
    assert re.search(r'<td class="item-price" style="[^"]*text-align: right', html)
    assert "/t/o/" in html
    recovery = [tokens.load("click", t)[1]
                for t in re.findall(r"https://sticky\.test/t/c/([\w.-]+)", text)]
    assert "https://harbour-goods.example.com/checkouts/c/abc123" in recovery
    assert "Still thinking, Maya?" in text and "2 items are waiting" not in text
