"""A shopper's email marketing consent on Shopify (Admin GraphQL; needs `write_customers`).

`unsubscribe_email_marketing(shop_domain, access_token, customer_gid, ...)`: the shopper
clicked an email's unsubscribe link, so Shopify's record of them must say so too, or the
store's own newsletters (and the next consent webhook) would still treat them as
subscribed. It runs `customerEmailMarketingConsentUpdate` with `marketingState:
UNSUBSCRIBED`, `marketingOptInLevel: SINGLE_OPT_IN` and the moment they unsubscribed.
Setting the same state again is harmless, so a retried call changes nothing.

Errors: `ConsentRefused` when Shopify answered and will not change it (unknown customer, a
customer without an email, no access): retrying cannot help. `ConsentNotUpdated` when it
could not be asked (network, 5xx, still throttled after the client's own retries): try
again later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.shopify.admin import (
    AdminAuthError,
    AdminClient,
    AdminThrottled,
    AdminUnavailable,
    GraphQLError,
    UserErrors,
    raise_for_user_errors,
)
from connectors.shopify.discounts import customer_gid as as_customer_gid

UPDATE_CONSENT = """mutation CustomerEmailMarketingConsentUpdate(
  $input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer {
      id
      emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
    }
    userErrors { field message code }
  }
}"""


class ConsentRefused(Exception):
    """Shopify answered and did not change the consent; retrying will not help."""


class ConsentNotUpdated(Exception):
    """Shopify could not be asked; the change may be tried again."""


def unsubscribe_input(customer_gid: str, unsubscribed_at: datetime) -> dict[str, Any]:
    """The mutation's `CustomerEmailMarketingConsentUpdateInput`."""
    return {
        "customerId": as_customer_gid(customer_gid),
        "emailMarketingConsent": {
            "marketingState": "UNSUBSCRIBED",
            "marketingOptInLevel": "SINGLE_OPT_IN",
            "consentUpdatedAt": unsubscribed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def unsubscribe_email_marketing(shop_domain: str, access_token: str, customer_gid: str, *,
                                api_version: str, unsubscribed_at: datetime,
                                client_factory: Callable[..., AdminClient] = AdminClient,
                                ) -> str:
    """Mark the customer unsubscribed from email marketing on Shopify; returns the state
    Shopify now holds ("UNSUBSCRIBED"). See the module docstring for the errors."""
    client = client_factory(shop_domain, access_token, api_version=api_version)
    try:
        data = client.execute(UPDATE_CONSENT,
                              {"input": unsubscribe_input(customer_gid, unsubscribed_at)})
        payload = data.get("customerEmailMarketingConsentUpdate")
        raise_for_user_errors(payload)
    except (AdminUnavailable, AdminThrottled) as exc:
        raise ConsentNotUpdated(str(exc)) from exc
    except AdminAuthError as exc:
        raise ConsentRefused(f"Shopify refused Sticky's access: {exc}") from exc
    except (UserErrors, GraphQLError) as exc:
        raise ConsentRefused(str(exc)) from exc
    consent = ((payload or {}).get("customer") or {}).get("emailMarketingConsent") or {}
    state = consent.get("marketingState")
    if not state:
        raise ConsentNotUpdated("Shopify answered without the customer's consent")
    return str(state)
