"""The Shopify consent mutation from plain values (Shopify stubbed at the HTTP edge)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial

import pytest
import responses

from connectors.http import HttpClient
from connectors.shopify.admin import AdminClient
from connectors.shopify.consent import (
    ConsentNotUpdated,
    ConsentRefused,
    unsubscribe_email_marketing,
)

DOMAIN = "plain-values.myshopify.com"
ENDPOINT = f"https://{DOMAIN}/admin/api/2026-10/graphql.json"
AT = datetime(2026, 12, 7, 12, 30, 5, tzinfo=UTC)
GID = "gid://shopify/Customer/207119551"


def _quiet_client(*args, **kwargs) -> AdminClient:
    return AdminClient(*args, http=HttpClient(retries=1, sleep=lambda _s: None),
                       sleep=lambda _s: None, **kwargs)


call = partial(unsubscribe_email_marketing, DOMAIN, "shpat_plain", "207119551",
               api_version="2026-10", unsubscribed_at=AT, client_factory=_quiet_client)


def _answer(state="UNSUBSCRIBED", errors=()):
    return {"data": {"customerEmailMarketingConsentUpdate": {
        "customer": None if errors else {"id": GID, "emailMarketingConsent": {
            "marketingState": state, "marketingOptInLevel": "SINGLE_OPT_IN",
            "consentUpdatedAt": "2026-12-07T12:30:05Z"}},
        "userErrors": list(errors)}}}


@responses.activate
def test_the_mutation_sends_unsubscribed_single_opt_in_and_the_time():
    responses.add(responses.POST, ENDPOINT, json=_answer())

    assert call() == "UNSUBSCRIBED"

    request = responses.calls[0].request
    assert request.headers["X-Shopify-Access-Token"] == "shpat_plain"
    body = json.loads(request.body)
    assert body["query"].lstrip().startswith("mutation CustomerEmailMarketingConsentUpdate(")
    assert body["variables"] == {"input": {"customerId": GID, "emailMarketingConsent": {
        "marketingState": "UNSUBSCRIBED", "marketingOptInLevel": "SINGLE_OPT_IN",
        "consentUpdatedAt": "2026-12-07T12:30:05Z"}}}


@responses.activate
def test_user_errors_are_a_refusal():
    responses.add(responses.POST, ENDPOINT, json=_answer(errors=[{
        "field": ["input", "customerId"], "message": "Customer not found", "code": "INVALID"}]))
    with pytest.raises(ConsentRefused, match="Customer not found"):
        call()


@responses.activate
def test_access_denied_is_a_refusal():
    responses.add(responses.POST, ENDPOINT, json={"errors": [{
        "message": "Access denied for customerEmailMarketingConsentUpdate field.",
        "extensions": {"code": "ACCESS_DENIED"}}]})
    with pytest.raises(ConsentRefused, match="refused Sticky's access"):
        call()


@responses.activate
def test_a_server_error_may_be_tried_again():
    responses.add(responses.POST, ENDPOINT, status=503)
    with pytest.raises(ConsentNotUpdated):
        call()


@responses.activate
def test_a_throttled_answer_is_retried_by_the_client():
    responses.add(responses.POST, ENDPOINT, json={"errors": [{
        "message": "Throttled", "extensions": {"code": "THROTTLED"}}]})
    responses.add(responses.POST, ENDPOINT, json=_answer())
    assert call() == "UNSUBSCRIBED"
    assert len(responses.calls) == 2
