"""Webhook signatures against the vectors published with Shopify's official libraries."""

from __future__ import annotations

import json

import pytest
from shopify_app import ShopifyApp

from connectors.shopify.signatures import verify_webhook, webhook_hmac
from tests.conftest import FIXTURES

VECTORS = json.loads((FIXTURES / "shopify" / "hmac_vectors.json").read_text())["vectors"]
WEBHOOK_VECTORS = [v for v in VECTORS if v["kind"] == "webhook"]


def test_there_are_published_vectors_to_check():
    published = [v for v in WEBHOOK_VECTORS if not v.get("computed")]
    assert len(published) >= 3


@pytest.mark.parametrize("vector", WEBHOOK_VECTORS, ids=lambda v: v["id"])
def test_webhook_vector(vector):
    body = vector["body"].encode()
    assert webhook_hmac(vector["secret"], body) == vector["expected_hmac"]
    assert verify_webhook(body, vector["expected_hmac"], [vector["secret"]])


@pytest.mark.parametrize("vector", WEBHOOK_VECTORS, ids=lambda v: v["id"])
def test_webhook_vector_rejects_tampering(vector):
    body = vector["body"].encode()
    assert not verify_webhook(body + b" ", vector["expected_hmac"], [vector["secret"]])
    assert not verify_webhook(body, vector["expected_hmac"], [vector["secret"] + "x"])


def test_old_secret_is_accepted_during_rotation():
    old = next(v for v in WEBHOOK_VECTORS if v["id"].endswith("old-secret"))
    body = old["body"].encode()
    assert verify_webhook(body, old["expected_hmac"], ["the-new-secret", old["secret"]])
    assert not verify_webhook(body, old["expected_hmac"], ["the-new-secret", None])


def test_missing_or_empty_signature_is_rejected():
    assert not verify_webhook(b"{}", None, ["secret"])
    assert not verify_webhook(b"{}", "", ["secret"])
    assert not verify_webhook(b"{}", webhook_hmac("secret", b"{}"), [None, ""])


@pytest.mark.parametrize("vector", WEBHOOK_VECTORS, ids=lambda v: v["id"])
def test_agrees_with_shopifyapp_package(vector):
    """Shopify's own Python package reaches the same verdict on the same request."""
    verifier = ShopifyApp(client_id="key", client_secret=vector["secret"])
    result = verifier.verify_webhook_req({
        "method": "POST",
        "headers": {"X-Shopify-Hmac-Sha256": vector["expected_hmac"],
                    "X-Shopify-Shop-Domain": "shop.myshopify.com",
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Webhook-Id": "w1", "X-Shopify-API-Version": "2026-10",
                    "X-Shopify-Event-Id": "e1", "X-Shopify-Triggered-At": "2026-11-01T00:00:00Z",
                    "Content-Type": "application/json"},
        "url": "https://sticky.test/webhooks/shopify",
        "body": vector["body"],
    })
    assert result.ok is True
    assert verify_webhook(vector["body"].encode(), vector["expected_hmac"], [vector["secret"]])
