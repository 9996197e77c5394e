"""HTML error pages say what happened, show when (UTC) and a reference that support can find
in the log, and render no markdown backticks."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from app.db import db
from app.routing import MAX_ID
from tests.test_accounts import EMAIL, PASSWORD, csrf_from, log_in, woo_shop

STAMP = re.compile(r'<time datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC</time>')


def test_the_install_error_page_shows_what_when_and_a_reference(client, caplog):
    # A link for a shop that is not a myshopify domain: the message quotes `shop`.
    caplog.set_level(logging.WARNING, logger="app.shops.install")
    before = datetime.now(UTC).replace(microsecond=0)
    response = client.get("/auth/shopify/install?shop=evil.example.com&hmac=x&timestamp=1")
    after = datetime.now(UTC)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This install link is not valid" in page
    # what happened, as a sentence, with the parameter name as code and no backticks
    assert "The <code>shop</code> parameter must be a store domain" in page
    assert "`" not in page
    # the time the page promises, in UTC
    (iso, shown) = STAMP.search(page).groups()
    when = datetime.fromisoformat(iso)
    assert before <= when <= after
    assert shown == when.strftime("%Y-%m-%d %H:%M:%S")
    assert "time below" in page
    # a reference, written to the log line of the same refusal
    reference = re.search(r"Reference</dt><dd><code>([0-9a-f]{8})</code>", page).group(1)
    logged = [r for r in caplog.records if getattr(r, "reference", None) == reference]
    assert len(logged) == 1 and "shop" in logged[0].reason
    assert "HTTP 400" in page


def test_two_refusals_get_different_references(client):
    pages = [client.get("/auth/shopify/install?shop=nope").get_data(as_text=True)
             for _ in range(2)]
    refs = {re.search(r"Reference</dt><dd><code>([0-9a-f]{8})</code>", p).group(1)
            for p in pages}
    assert len(refs) == 2


def test_the_panel_error_page_renders_commands_as_code(app, client, session):
    from app.accounts.service import create_account

    create_account(session, EMAIL, PASSWORD)
    session.commit()
    for _ in range(5):
        log_in(client, password="wrong wrong wrong")
    limited = log_in(client)
    page = limited.get_data(as_text=True)
    assert limited.status_code == 429
    assert "<code>flask --app app accounts set-password</code>" in page
    assert "`" not in page


def test_selecting_a_store_id_past_2_63_is_refused_not_a_500(client, session):
    from app.accounts.service import create_account, link_account_to_shop

    account = create_account(session, EMAIL, PASSWORD)
    link_account_to_shop(session, account.id, woo_shop("mine.example").id)
    session.commit()
    log_in(client)
    token = csrf_from(client, "/admin/stores")
    for junk in (str(MAX_ID + 1), "9" * 40, "²", "-1", "1e3"):
        response = client.post("/admin/stores/select", data={"shop_id": junk,
                                                             "csrf_token": token})
        assert response.status_code == 403, junk
        assert "not linked to that store" in response.get_data(as_text=True)
    db.session.close()


def test_the_error_text_macro_escapes_and_handles_odd_backticks(app):
    with app.app_context():
        template = app.jinja_env.from_string(
            '{% from "components/text.html" import prose %}{{ prose(t, sentence=s) }}')
        assert template.render(t="use `<b>` here", s=False) == "use <code>&lt;b&gt;</code> here"
        assert template.render(t="a `b", s=True) == "A b."
        assert template.render(t="done.", s=True) == "Done."
        assert template.render(t="", s=True) == ""
        assert template.render(t=None, s=False) == ""


def test_the_time_shown_is_utc_even_off_utc(client, monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a local clock would show it
    import time

    time.tzset()
    try:
        page = client.get("/auth/shopify/install?shop=nope").get_data(as_text=True)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    when = datetime.fromisoformat(STAMP.search(page).group(1))
    assert abs(when - datetime.now(UTC)) < timedelta(minutes=1)
    assert when.utcoffset() == timedelta(0)


def test_a_nul_character_in_a_panel_form_is_a_400_page(client, session):
    from app.accounts.service import create_account

    create_account(session, EMAIL, PASSWORD)
    session.commit()
    for path, data in (("/admin/login", {"email": "a\x00@example.com", "password": PASSWORD}),
                       ("/admin/signup", {"email": "b\x00@example.com", "password": PASSWORD,
                                          "confirm": PASSWORD})):
        data["csrf_token"] = csrf_from(client, path)
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "NUL character" in response.get_data(as_text=True)
    assert log_in(client).status_code == 302  # the form still works
