"""Columns are matched to fields from the headers other tools really export."""

from __future__ import annotations

import pytest

from app.imports.mapping import MappingError, guess, parse_overrides, resolve, unmapped
from app.imports.reading import read_table
from tests.imports.support import (
    KLAVIYO_PROFILES,
    MAILCHIMP_MEMBERS,
    SHOPIFY_CUSTOMERS,
    SHOPIFY_ORDERS,
)


def _header(text: str) -> list[str]:
    return text.strip().split(",")


def test_shopify_customers_export():
    mapping = guess("customers", _header(SHOPIFY_CUSTOMERS))
    assert mapping == {"First Name": "first_name", "Last Name": "last_name", "Email": "email",
                       "Accepts Email Marketing": "accepts_marketing",
                       "Default Address City": "city",
                       "Default Address Country Code": "country", "Phone": "phone",
                       "Tags": "tags"}
    assert "Total Spent" in unmapped(_header(SHOPIFY_CUSTOMERS), mapping)
    assert "Customer ID" in unmapped(_header(SHOPIFY_CUSTOMERS), mapping)


def test_klaviyo_profiles_export():
    mapping = guess("customers", _header(KLAVIYO_PROFILES))
    assert mapping == {"Email": "email", "First Name": "first_name", "Last Name": "last_name",
                       "Phone Number": "phone", "City": "city", "Country": "country",
                       "Email Marketing Consent": "accepts_marketing",
                       "Email Marketing Consent Timestamp": "consent_at",
                       "Profile Created On": "created_at"}


def test_mailchimp_audience_export():
    mapping = guess("customers", _header(MAILCHIMP_MEMBERS))
    assert mapping["Email Address"] == "email"
    assert mapping["First Name"] == "first_name"
    assert mapping["OPTIN_TIME"] == "consent_at"
    assert mapping["CC"] == "country"
    assert mapping["TAGS"] == "tags"
    assert "accepts_marketing" not in mapping.values()
    assert "CONFIRM_TIME" not in mapping  # consent_at is taken by the better name, OPTIN_TIME


def test_woocommerce_customers_export():
    header = ["customer_id", "user_email", "first_name", "last_name", "billing_phone",
              "billing_city", "billing_country", "date_created"]
    assert guess("customers", header) == {
        "user_email": "email", "first_name": "first_name", "last_name": "last_name",
        "billing_phone": "phone", "billing_city": "city", "billing_country": "country",
        "date_created": "created_at"}


def test_shopify_orders_export():
    mapping = guess("orders", _header(SHOPIFY_ORDERS))
    assert mapping["Name"] == "order_id"        # '#1001', not the platform's numeric Id
    assert "Id" not in mapping
    assert mapping["Email"] == "customer_email"
    assert mapping["Created at"] == "created_at"  # not 'Paid at', a worse name for it
    assert mapping["Total"] == "total"
    assert mapping["Financial Status"] == "status"
    assert mapping["Lineitem name"] == "line_title"
    assert mapping["Refunded Amount"] == "refunded"
    assert mapping["Cancelled at"] == "cancelled_at"


def test_woocommerce_orders_export():
    header = ["Order ID", "Order Date", "Order Status", "Billing Email", "Order Total Amount",
              "Order Currency", "Item Name", "Quantity"]
    mapping = guess("orders", header)
    assert mapping == {"Order ID": "order_id", "Order Date": "created_at",
                       "Order Status": "status", "Billing Email": "customer_email",
                       "Order Total Amount": "total", "Order Currency": "currency",
                       "Item Name": "line_title", "Quantity": "line_quantity"}


def test_overrides_take_a_field_from_the_guessed_column_and_ignore_columns():
    header = ["Email", "Work email", "Tags"]
    mapping = resolve("customers", header, parse_overrides(["work email=email", "Tags=ignore"]))
    assert mapping == {"Work email": "email"}


@pytest.mark.parametrize("pairs, message", [
    (["Nope=email"], "there is no column 'Nope'"),
    (["Email=shoe_size"], "'shoe_size' is not a field"),
    (["Email=ignore"], "no column is mapped to email"),
])
def test_bad_overrides_say_what_is_wrong(pairs, message):
    with pytest.raises(MappingError, match=message):
        resolve("customers", ["Email", "Tags"], parse_overrides(pairs))


def test_an_override_needs_an_equals_sign():
    with pytest.raises(MappingError, match="COLUMN=FIELD"):
        parse_overrides(["Email"])


def test_reading_bom_semicolons_quotes_and_latin1():
    text = '\ufeffEmail;Name\n"a@x.com";"Dupont; Jean"\n"b@x.com";"multi\nline"\nc@x.com;Z\n'
    table = read_table(text.encode("utf-8"))
    assert table.header == ["Email", "Name"]
    assert table.delimiter == ";"
    assert [(r.line, r.cells) for r in table.rows] == [
        (2, ["a@x.com", "Dupont; Jean"]), (3, ["b@x.com", "multi\nline"]), (5, ["c@x.com", "Z"])]
    latin = read_table("Email,First Name\nz@x.com,Zoë\n".encode("latin-1"))
    assert latin.encoding == "latin-1" and latin.rows[0].cells[1] == "Zoë"
    assert "Latin-1" in latin.notes[0]
