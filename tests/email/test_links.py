"""The links in flow emails: the open pixel, the click redirect, and bad tokens."""

from __future__ import annotations

from sqlalchemy import select

from app.email import tokens
from app.flows.models import EmailEngagement, Message
from tests.email.support import sent_message


def _path(kind: str, payload) -> str:
    return tokens.url(kind, payload).removeprefix("https://sticky.test")


def test_the_open_pixel_records_an_open_and_answers_an_uncached_gif(client, session, shop):
    # given a sent message
    message = sent_message(session, shop)
    path = _path("open", message.id)

    # when its pixel is loaded twice
    first = client.get(path)
    second = client.get(path)

    # then each load is an open, the message keeps the first, and the answer is a 1x1 GIF
    assert first.status_code == second.status_code == 200
    assert first.mimetype == "image/gif" and first.data.startswith(b"GIF89a")
    assert first.data[6:10] == b"\x01\x00\x01\x00"  # 1 x 1
    assert "no-store" in first.headers["Cache-Control"]
    session.expire_all()
    rows = session.scalars(select(EmailEngagement).order_by(EmailEngagement.id)).all()
    assert [(r.kind, r.message_pk, r.customer_id, r.shop_id) for r in rows] == [
        ("open", message.id, message.customer_id, shop.id)] * 2
    stored = session.get(Message, message.id)
    assert stored.opened_at == rows[0].at
    assert stored.clicked_at is None


def test_a_click_redirects_and_records_the_click_and_the_open_it_implies(client, session, shop):
    message = sent_message(session, shop)
    url = "https://harbour-goods.example.com/products/linen?utm_source=sticky&a=1"

    response = client.get(_path("click", [message.id, url]))

    assert response.status_code == 302
    assert response.headers["Location"] == url
    session.expire_all()
    rows = session.scalars(select(EmailEngagement).order_by(EmailEngagement.id)).all()
    assert [(r.kind, r.url) for r in rows] == [("open", None), ("click", url)]
    stored = session.get(Message, message.id)
    assert stored.clicked_at is not None and stored.opened_at == stored.clicked_at

    # a second click is recorded, the first click and open are kept
    client.get(_path("click", [message.id, url]))
    session.expire_all()
    assert [r.kind for r in session.scalars(select(EmailEngagement))] == ["open", "click",
                                                                          "click"]
    assert session.get(Message, message.id).clicked_at == stored.clicked_at


def test_bad_tokens_get_a_page_in_words_never_a_500(client, session, shop):
    message = sent_message(session, shop)
    good_open = _path("open", message.id)
    cut = good_open[:-4]
    for path in (cut, "/t/c/nonsense", "/unsubscribe/nonsense", "/t/o/" + "x" * 5000,
                 # a token of another kind is not accepted
                 _path("open", message.id).replace("/t/o/", "/t/c/"),
                 _path("click", [message.id, "javascript:alert(1)"])):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "This link does not work" in response.get_data(as_text=True)
    assert session.scalars(select(EmailEngagement)).all() == []


def test_a_click_on_a_removed_message_still_leads_to_the_link(client, session, shop):
    url = "https://harbour-goods.example.com/"
    response = client.get(_path("click", [987654, url]))
    assert response.status_code == 302 and response.headers["Location"] == url
    assert client.get(_path("open", 987654)).status_code == 200
    assert session.scalars(select(EmailEngagement)).all() == []


def test_a_head_request_records_nothing(client, session, shop):
    message = sent_message(session, shop)
    assert client.head(_path("open", message.id)).status_code == 200
    assert client.head(_path("click", [message.id, "https://shop.example/"])).status_code == 302
    session.expire_all()
    assert session.scalars(select(EmailEngagement)).all() == []
    assert session.get(Message, message.id).opened_at is None
