"""Orders carry fingerprints of their addresses, never the addresses: the same address gives
the same fingerprint however it is written and whichever platform or API sent it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from benchmarks.payloads.shopify import shopify_fixture
from connectors.shopify import graphql_records
from connectors.shopify.normalize import order as shopify_order
from connectors.woocommerce.normalize import order_records

WOO = Path(__file__).parent.parent / "fixtures" / "woocommerce" / "order.json"


def test_one_address_has_one_fingerprint_across_spellings_and_platforms():
    rest = shopify_fixture("orders/create")
    address = rest["shipping_address"]
    record = shopify_order(rest)
    assert record.shipping_address_hash and len(record.shipping_address_hash) == 64
    assert address["address1"] not in json.dumps(record.shipping_address_hash)

    shouted = copy.deepcopy(rest)
    shouted["shipping_address"].update(address1=address["address1"].upper() + ".",
                                       city="  " + address["city"].lower())
    assert shopify_order(shouted).shipping_address_hash == record.shipping_address_hash

    moved = copy.deepcopy(rest)
    moved["shipping_address"]["address1"] = "1 Other Street"
    assert shopify_order(moved).shipping_address_hash != record.shipping_address_hash

    woo = json.loads(WOO.read_text())
    woo["status"] = "processing"
    woo["shipping"].update(address_1=address["address1"], address_2=address["address2"] or "",
                           city=address["city"], postcode=address["zip"],
                           country=address["country_code"])
    [woo_record] = order_records(woo)
    assert woo_record.shipping_address_hash == record.shipping_address_hash

    assert graphql_records._address_hash({
        "address1": address["address1"], "address2": address["address2"],
        "city": address["city"], "zip": address["zip"],
        "countryCodeV2": address["country_code"]}) == record.shipping_address_hash


def test_no_street_or_a_malformed_address_has_no_fingerprint():
    rest = shopify_fixture("orders/create")
    rest["shipping_address"] = None
    rest["billing_address"] = {"address1": {"not": "text"}, "city": 5}
    record = shopify_order(rest)
    assert record.shipping_address_hash is None and record.billing_address_hash is None
