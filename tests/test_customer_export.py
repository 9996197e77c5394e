"""CSV export of the customer list (`/admin/customers/export.csv`, `/api/customers/export.csv`):
content, formula guard, the list's filters and order, and streaming in bounded memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert

from app.customers import export as export_module
from app.customers.export import COLUMNS, guard_cell
from app.customers.models import CustomerNote
from app.customers.notes import add_tag
from app.customers.query import export_select, parse_filters
from app.profiles.models import Customer
from app.settings.timezone import UTC_ZONE
from tests.customer_helpers import api_key_headers, customer_row, session_token, sign_in

SHOP = "sticky-test.myshopify.com"


def _rows(response) -> list[dict[str, str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # so spreadsheet programs read it as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.fixture
def two(session, shop, other_shop):
    ada = customer_row(session, shop, first_name="Ada", last_name="Lovelace",
                       email="ada@example.com", phone="+44 20 7946 0958", orders_count=2,
                       total_spent=Decimal("90.5"), email_marketing="subscribed",
                       first_order_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                       last_order_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
                       tags="vip, newsletter",
                       platform_created_at=datetime(2025, 12, 1, tzinfo=UTC))
    customer_row(session, shop, first_name="=HYPERLINK(\"http://evil\")", last_name="@SUM(A1)",
                 email="-2+3@example.com")
    customer_row(session, other_shop, first_name="Elsewhere")
    add_tag(session, ada, "VIP", "a@b.c")
    add_tag(session, ada, "Wholesale", "a@b.c")
    for body in ("first", "second"):
        session.add(CustomerNote(shop_id=shop.id, customer_id=ada.id, body=body, author="x"))
    session.commit()
    return ada


def test_the_export_has_every_column_and_guards_formulas(client, session, shop, two):
    sign_in(client, session, shop)
    response = client.get("/admin/customers/export.csv?sort=name")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["X-Total-Rows"] == "2"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="customers-sticky-test.myshopify.com-')
    assert response.headers["Cache-Control"] == "no-store"
    rows = _rows(response)
    assert list(rows[0]) == list(COLUMNS)
    evil, ada = rows  # sorted by name: "=" comes before letters
    assert ada == {
        "id": str(two.id), "email": "ada@example.com", "first_name": "Ada",
        "last_name": "Lovelace", "phone": "'+44 20 7946 0958", "orders_count": "2",
        "total_spent": "90.50", "currency": shop.currency,
        "first_order_at": "2026-01-02T03:04:05Z", "last_order_at": "2026-02-03T04:05:06Z",
        "email_marketing": "subscribed", "platform_tags": "vip, newsletter",
        "merchant_tags": "VIP, Wholesale", "notes_count": "2",
        "created_at": "2025-12-01T00:00:00Z"}
    assert evil["first_name"] == "'=HYPERLINK(\"http://evil\")"
    assert evil["last_name"] == "'@SUM(A1)"
    assert evil["email"] == "'-2+3@example.com"
    assert evil["notes_count"] == "0" and evil["merchant_tags"] == ""


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), (None, ""), (12, "12"),
])
def test_guard_cell(value, cell):
    assert guard_cell(value) == cell


def test_the_export_follows_the_lists_filters(client, session, shop, two):
    sign_in(client, session, shop)
    response = client.get("/admin/customers/export.csv?email_marketing=subscribed")
    assert response.headers["X-Total-Rows"] == "1"
    assert [r["email"] for r in _rows(response)] == ["ada@example.com"]
    # and the list page's button carries the same filters, to both URLs
    html = client.get("/admin/customers?email_marketing=subscribed").get_data(as_text=True)
    assert 'href="/admin/customers/export.csv?email_marketing=subscribed"' in html
    assert 'data-api-url="/api/customers/export.csv?email_marketing=subscribed"' in html
    assert 'data-total="1"' in html


def test_an_invalid_filter_is_a_400_not_a_file(client, session, shop, two):
    sign_in(client, session, shop)
    page = client.get("/admin/customers/export.csv?min_spent=lots")
    assert page.status_code == 400 and "min_spent" in page.get_data(as_text=True)
    api = client.get("/api/customers/export.csv?min_spent=lots",
                     headers=api_key_headers(session, shop))
    assert api.status_code == 400 and "min_spent" in api.get_json()["message"]


def test_the_api_export_accepts_api_keys_and_app_bridge_session_tokens(client, session, shop,
                                                                        two):
    # The embedded page fetches /api/customers/export.csv: App Bridge adds the session token.
    for headers in (api_key_headers(session, shop),
                    {"Authorization": f"Bearer {session_token(SHOP)}"}):
        response = client.get("/api/customers/export.csv?q=ada", headers=headers)
        assert response.status_code == 200
        assert response.headers["X-Total-Rows"] == "1"
        assert [r["first_name"] for r in _rows(response)] == ["Ada"]
    assert client.get("/api/customers/export.csv").status_code == 401


def _many(session, shop, count: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session.execute(insert(Customer), [{
        "shop_id": shop.id, "platform_customer_id": str(10**13 + i),
        "email": f"shopper{i}@example.com", "email_normalized": f"shopper{i}@example.com",
        "first_name": f"Shopper {i}", "last_name": "Example " * 4, "phone": f"+1555{i:07d}",
        "city": "Springfield", "tags": "vip, newsletter, wholesale", "orders_count": i % 7,
        "total_spent": Decimal(i % 1000) / 4, "email_marketing": "subscribed",
        "last_order_at": now, "first_order_at": now, "platform_created_at": now,
        "points_balance": 0, "created_at": now, "updated_at": now,
    } for i in range(count)])
    session.commit()


def test_a_20000_row_export_streams_in_chunks_without_holding_the_rows(
        client, session, shop, monkeypatch):
    # given 20,000 customers
    _many(session, shop, 20_000)
    sign_in(client, session, shop)
    filters, _ = parse_filters({})
    # the memory that holding every exported row at once takes (what streaming must avoid)
    tracemalloc.start()
    held = session.execute(export_select(shop.id, filters, UTC_ZONE)).all()
    all_rows_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(held) == 20_000
    del held
    session.rollback()

    # when the export is downloaded in chunks of 250 rows, without keeping what arrived
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 250)
    chunks_read = []
    real_rows = export_module.export_rows

    def counting_rows(*args, **kwargs):
        for chunk in real_rows(*args, **kwargs):
            chunks_read.append(len(chunk))
            yield chunk
            del chunk  # hold no more than the export itself does

    monkeypatch.setattr(export_module, "export_rows", counting_rows)
    tracemalloc.start()
    response = client.get("/admin/customers/export.csv", buffered=False)
    assert response.is_streamed
    received = lines = pieces = 0
    for piece in response.response:
        pieces += 1
        received += len(piece)
        lines += piece.count(b"\n") if isinstance(piece, bytes) else piece.count("\n")
    response.close()
    streaming_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    # then every row arrived, in pieces of one database chunk each
    assert lines == 20_001 and response.headers["X-Total-Rows"] == "20000"
    assert chunks_read == [250] * 80
    assert pieces == 81  # the header, then one piece per chunk, each sent as it was read
    # and the export never held anything near all the rows, only a chunk or two: holding
    # them all took about 20 MB here, the stream about 1.2 MB (4.7 MB with 1,000-row chunks)
    assert received > 2_000_000
    assert streaming_peak < all_rows_peak / 8, (streaming_peak, all_rows_peak)


def test_a_finished_export_gives_its_database_connection_back(app, client):
    # given a store with customers, set up outside of any request
    from app.db import db
    from app.shops.service import connect_shopify_by_token

    with app.app_context():
        shop = connect_shopify_by_token(db.session, SHOP, "shpat_test_token")
        for i in range(3):
            customer_row(db.session, shop, first_name=f"P{i}")
        headers = api_key_headers(db.session, shop)
    # when an export is downloaded by a request of its own, as in production
    response = client.get("/api/customers/export.csv", headers=headers, buffered=False)
    assert b"".join(response.iter_encoded()).count(b"\n") == 4
    response.close()
    # then no connection is left checked out (in a transaction, holding its locks)
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
