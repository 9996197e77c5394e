"""Every line is checked; a rejection names its line and why."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.imports import validate, values
from app.imports.mapping import resolve
from app.imports.reading import read_table

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _customers(text: str):
    table = read_table(text.encode())
    return validate.customers(table, resolve("customers", table.header), PARIS, now=NOW)


def _orders(text: str, currency: str = "EUR"):
    table = read_table(text.encode())
    return validate.orders(table, resolve("orders", table.header), PARIS, currency, now=NOW)


def test_customer_rejections_name_the_line_and_the_reason():
    result = _customers(
        "Email,First Name,Accepts Email Marketing,Created At,Country\n"
        "ada@example.com,Ada,yes,2024-03-05,FR\n"          # 2: fine
        "not-an-email,Bob,yes,,\n"                          # 3
        ",Carl,,,\n"                                        # 4
        "dora@example.com,Dora,maybe,,\n"                   # 5
        "eve@example.com,Eve,,31/02/2024,\n"                # 6 (no such day)
        "fay@example.com,Fay,,2031-01-01,\n"                # 7 (future)
        "gus@example.com,Gus,,,Atlantis\n"                  # 8
    )
    assert [i.email_n for i in result.items] == ["ada@example.com"]
    reasons = {p.line: p.reason for p in result.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert "not a valid address" in reasons[3]
    assert reasons[4] == "no email address"
    assert "'maybe' is neither yes nor no" in reasons[5]
    assert "does not exist" in reasons[6]
    assert "in the future" in reasons[7]
    assert "'Atlantis'" in reasons[8]


def test_dates_without_a_zone_are_in_the_shops_zone_and_offsets_are_kept():
    paris = values.when("2024-07-01 10:00", PARIS, now=NOW)
    assert paris == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)        # CEST, UTC+2
    assert values.when("2024-01-01", PARIS, now=NOW) == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert values.when("2024-07-01T10:00:00Z", PARIS, now=NOW) == datetime(2024, 7, 1, 10,
                                                                            tzinfo=UTC)
    assert values.when("2024-07-01 10:00:00 -0400", PARIS, now=NOW) == datetime(
        2024, 7, 1, 14, tzinfo=UTC)
    assert values.when("01.07.2024", PARIS, now=NOW) == datetime(2024, 6, 30, 22, tzinfo=UTC)


def test_slashed_dates_are_month_first_unless_the_column_shows_day_first():
    us = _customers("Email,Created At\na@x.com,03/05/2024\n")
    assert us.items[0].created_at == datetime(2024, 3, 4, 23, tzinfo=UTC)   # 5 March
    eu = _customers("Email,Created At\na@x.com,03/05/2024\nb@x.com,25/12/2023\n")
    assert eu.items[0].created_at == datetime(2024, 5, 2, 22, tzinfo=UTC)   # 3 May
    assert any("day first" in note for note in eu.notes)


@pytest.mark.parametrize("text, amount", [
    ("12.50", "12.50"), ("$1,234.56", "1234.56"), ("1.234,56 €", "1234.56"), ("12,5", "12.5"),
    ("EUR 7", "7"),
])
def test_money_is_decimal(text, amount):
    assert values.money(text) == Decimal(amount)


def test_duplicate_emails_the_later_line_wins():
    result = _customers("Email,First Name\nAda@Example.com,Old\nbob@x.com,Bob\n"
                        " ada@example.com ,New\n")
    assert [(i.line, i.first_name) for i in result.items] == [(3, "Bob"), (4, "New")]
    assert [(p.line, p.reason) for p in result.duplicates] == [
        (2, "same email as line 4, which is imported instead (the later line wins)")]


def test_consent_only_when_the_line_states_it():
    result = _customers("Email,Email Marketing Consent\na@x.com,SUBSCRIBED\nb@x.com,\n"
                        "c@x.com,NEVER_SUBSCRIBED\nd@x.com,unsubscribed\ne@x.com,pending\n")
    assert [i.consent for i in result.items] == [
        "subscribed", None, "not_subscribed", "unsubscribed", None]
    # Mailchimp: no yes/no column, an opt-in time is an opt-in
    chimp = _customers("Email Address,OPTIN_TIME\na@x.com,2023-04-01 10:00:00\nb@x.com,\n")
    assert [i.consent for i in chimp.items] == ["subscribed", None]


def test_order_rows_of_one_order_are_one_order_with_its_lines():
    result = _orders(
        "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,"
        "Lineitem name,Lineitem price,Refunded Amount\n"
        "#1001,ada@example.com,partially_refunded,EUR,55.00,2024-03-05 10:00:00 +0100,2,Mug,"
        "12.50,5.00\n"
        "#1001,,,,,,1,Teapot,30.00,\n"
        "#1002,bob@example.com,paid,USD,10.00,2024-03-06,1,Mug,10.00,\n"
        "#1003,carl@example.com,paid,EUR,-3,2024-03-06,1,Mug,10.00,\n"
        "#1004,dora@example.com,paid,EUR,20,2024-03-06,1.5,Mug,10.00,\n"
        "#1004,dora@example.com,,,,,1,Cup,10.00,\n"
        ",erin@example.com,paid,EUR,20,2024-03-06,,,,\n"
        "#1005,,paid,EUR,20,2024-03-06,,,,\n"
        "#1006,fay@example.com,refunded,EUR,20,2024-03-06,,,,\n"
    )
    first = result.items[0]
    assert (first.order_id, first.total, first.refunded) == ("#1001", Decimal("55"),
                                                             Decimal("5"))
    assert first.placed_at == datetime(2024, 3, 5, 9, tzinfo=UTC)
    assert [(line.title, line.quantity, line.price) for line in first.lines] == [
        ("Mug", 2, Decimal("12.5")), ("Teapot", 1, Decimal("30"))]
    assert result.items[1].order_id == "#1006"
    assert result.items[1].refunded == Decimal("20")  # refunded with no amount: all of it
    reasons = {p.line: p.reason for p in result.rejected}
    assert reasons[4] == "currency USD is not the store's (EUR); convert it first"
    assert reasons[5] == "total '-3' is negative"
    assert reasons[6] == "quantity '1.5' is not a whole number of items"
    assert reasons[7] == "order #1004 is rejected (line 6)"
    assert reasons[8] == "no order id"
    assert reasons[9] == "no customer email"
