"""Which column of the file is which field: guessed from the header, overridable.

A header is compared in a normal form (lower case, letters and digits only), so "First Name",
"first_name", "FNAME" and "first-name" are alike. Each field lists the headers it is known by
in other tools' exports (Shopify, Klaviyo, Mailchimp, WooCommerce, ...), best first; each
field takes at most one column and each column at most one field, the closest names first.
Columns no field claims are ignored and listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.imports.models import CUSTOMERS, ORDERS


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    help: str
    aliases: tuple[str, ...]
    required: bool = False


CUSTOMER_FIELDS = (
    Field("email", "Email", "The customer's email address; profiles are matched by it.",
          ("email", "emailaddress", "e-mail", "useremail", "customeremail", "billingemail",
           "mail"), required=True),
    Field("first_name", "First name", "Fills the profile's first name when it has none.",
          ("firstname", "fname", "givenname", "billingfirstname", "first")),
    Field("last_name", "Last name", "Fills the profile's last name when it has none.",
          ("lastname", "lname", "surname", "familyname", "billinglastname", "last")),
    Field("phone", "Phone", "Fills the profile's phone number when it has none.",
          ("phone", "phonenumber", "mobile", "mobilephone", "billingphone",
           "defaultaddressphone", "phonenumbers", "telephone")),
    Field("tags", "Tags", "Comma-separated tags; fill the profile's tags when it has none.",
          ("tags", "tag", "labels")),
    Field("accepts_marketing", "Accepts email marketing",
          "yes / no (subscribed, unsubscribed, true, false, 1, 0...); blank = unchanged.",
          ("acceptsemailmarketing", "acceptsmarketing", "emailmarketingconsent",
           "emailconsent", "marketingconsent", "subscribed", "optin", "optedin", "newsletter",
           "emailoptin", "marketingoptin", "subscriptionstatus", "emailstatus")),
    Field("consent_at", "Consent date",
          "When consent was given or changed; a date with no yes/no column means opted in.",
          ("emailmarketingconsenttimestamp", "acceptsemailmarketingupdatedat", "optintime",
           "confirmtime", "consentdate", "consenttimestamp", "optindate", "subscribedat")),
    Field("created_at", "Customer since", "When the customer was first known to the old tool.",
          ("createdat", "created", "datecreated", "profilecreatedon", "dateadded",
           "userregistered", "signupdate", "registered", "customersince", "createddate",
           "firstactive")),
    Field("city", "City", "Fills the profile's city when it has none.",
          ("city", "defaultaddresscity", "billingcity", "addresscity")),
    Field("country", "Country", "A two-letter code (FR) or an English name (France).",
          ("country", "countrycode", "defaultaddresscountrycode", "billingcountry", "cc",
           "addresscountry", "defaultaddresscountry")),
)

ORDER_FIELDS = (
    Field("order_id", "Order ID",
          "The order's id or number in the old tool; rows with the same one are one order.",
          ("orderid", "ordernumber", "name", "order", "orderno", "number", "id"),
          required=True),
    Field("customer_email", "Customer email", "Ties the order to the customer's profile.",
          ("email", "customeremail", "billingemail", "emailaddress", "customeremailaddress",
           "billingemailaddress"), required=True),
    Field("created_at", "Order date", "When the order was placed.",
          ("createdat", "orderdate", "date", "datecreated", "placedat", "ordercreatedat",
           "orderdatetime", "createddate", "paidat"), required=True),
    Field("total", "Total", "What the customer paid, tax and shipping included.",
          ("total", "ordertotal", "totalprice", "ordertotalamount", "grandtotal", "amount",
           "revenue", "value"), required=True),
    Field("currency", "Currency", "Must be the store's currency; blank means the store's.",
          ("currency", "ordercurrency", "currencycode")),
    Field("subtotal", "Subtotal", "Before tax, shipping and discounts.",
          ("subtotal", "ordersubtotal", "subtotalprice", "ordersubtotalamount")),
    Field("tax", "Tax", "Tax included in the total.",
          ("taxes", "tax", "totaltax", "ordertax", "ordertotaltaxamount", "taxtotal")),
    Field("shipping", "Shipping", "Shipping included in the total.",
          ("shipping", "shippingtotal", "ordershippingamount", "shippingcost",
           "shippingamount")),
    Field("discount", "Discounts", "Discounts taken off.",
          ("discountamount", "totaldiscounts", "discount", "cartdiscount",
           "cartdiscountamount", "discounttotal")),
    Field("status", "Status",
          "paid, pending, refunded, cancelled... (Shopify, WooCommerce and others' words).",
          ("financialstatus", "status", "orderstatus", "paymentstatus")),
    Field("refunded", "Refunded amount", "What was refunded; counts against the total.",
          ("refundedamount", "refunded", "totalrefunded", "orderrefund", "refundamount")),
    Field("cancelled_at", "Cancelled at", "When the order was cancelled (it then counts as 0).",
          ("cancelledat", "cancelleddate", "canceledat", "cancelled")),
    Field("line_title", "Line item", "A product bought (one per row of the order).",
          ("lineitemname", "productname", "itemname", "lineitemtitle", "product", "title",
           "item")),
    Field("line_quantity", "Line quantity", "How many of the line item (default 1).",
          ("lineitemquantity", "quantity", "qty", "itemquantity")),
    Field("line_price", "Line price", "The line item's unit price.",
          ("lineitemprice", "itemprice", "unitprice", "price", "itemcost")),
    Field("line_sku", "Line SKU", "The line item's SKU.", ("lineitemsku", "sku", "itemsku")),
)

FIELDS = {CUSTOMERS: CUSTOMER_FIELDS, ORDERS: ORDER_FIELDS}
IGNORE = "ignore"


class MappingError(ValueError):
    """A mapping that cannot be used; the message says why."""


def normal(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def field_names(kind: str) -> list[str]:
    return [f.name for f in FIELDS[kind]]


def guess(kind: str, header: list[str]) -> dict[str, str]:
    """{column header: field} for the columns whose header names a field."""
    candidates: list[tuple[int, int, str, str]] = []
    for position, column in enumerate(header):
        key = normal(column)
        if not key:
            continue
        for f in FIELDS[kind]:
            if key in f.aliases:
                candidates.append((f.aliases.index(key), position, column, f.name))
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for _rank, _position, column, name in sorted(candidates):
        if column not in mapping and name not in taken:
            mapping[column] = name
            taken.add(name)
    return mapping


def parse_overrides(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`COLUMN=FIELD` strings (FIELD may be `ignore`) → {column: field}."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        column, sep, name = pair.rpartition("=")
        if not sep or not column.strip() or not name.strip():
            raise MappingError(f"--map {pair!r}: write it as COLUMN=FIELD, e.g. "
                               "\"E-mail Address=email\"")
        overrides[column.strip()] = name.strip().lower()
    return overrides


def resolve(kind: str, header: list[str], overrides: dict[str, str] | None = None
            ) -> dict[str, str]:
    """The guessed mapping with `overrides` applied; checked: columns exist, fields are
    known, no field twice, required fields present. Raises MappingError."""
    names = field_names(kind)
    mapping = guess(kind, header)
    by_normal = {normal(c): c for c in header}
    for column, name in (overrides or {}).items():
        actual = column if column in header else by_normal.get(normal(column))
        if actual is None:
            raise MappingError(f"there is no column {column!r} in the file (its columns: "
                               f"{', '.join(repr(c) for c in header)})")
        if name != IGNORE and name not in names:
            raise MappingError(f"{name!r} is not a field of a {kind} import; the fields are "
                               f"{', '.join(names)} (or {IGNORE})")
        if name == IGNORE:
            mapping.pop(actual, None)
            continue
        for other, other_name in list(mapping.items()):
            if other_name == name and other != actual:
                del mapping[other]  # the override takes the field from the guessed column
        mapping[actual] = name
    check(kind, mapping)
    return mapping


def check(kind: str, mapping: dict[str, str]) -> None:
    fields = list(mapping.values())
    twice = sorted({name for name in fields if fields.count(name) > 1})
    if twice:
        raise MappingError(f"more than one column is mapped to {', '.join(twice)}")
    missing = [f.name for f in FIELDS[kind] if f.required and f.name not in fields]
    if missing:
        raise MappingError(f"no column is mapped to {', '.join(missing)} (required for a "
                           f"{kind} import): map one with --map COLUMN={missing[0]}")


def unmapped(header: list[str], mapping: dict[str, str]) -> list[str]:
    return [column for column in header if column and column not in mapping]
