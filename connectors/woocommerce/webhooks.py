"""Sticky's webhooks on a WooCommerce store: the REST calls that list, create and delete them.

WooCommerce never retries a failed delivery and disables a webhook after 5 consecutive
failures (any non-2xx), so the domain checks Sticky's webhooks on connect and periodically
(app/woocommerce/webhooks.py) with these calls, and keeps their secrets. Nothing here stores
anything: each call takes a client for one store and returns plain values.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from connectors.http import NotFound
from connectors.woocommerce.client import WooClient

TOPICS = (
    "order.created", "order.updated", "order.deleted", "order.restored",
    "customer.created", "customer.updated", "customer.deleted",
    # The companion plugin's cart snapshots; creating it fails until the plugin is active.
    "sticky_cart.updated",
)
_SECRET_ALPHABET = string.ascii_letters + string.digits


def new_secret(length: int = 40) -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(length))


def delivery_url(app_url: str, shop_id: int) -> str:
    return f"{app_url.rstrip('/')}/webhooks/woocommerce/{shop_id}"


@dataclass(frozen=True)
class RemoteWebhook:
    """A webhook as the store lists it."""

    id: str
    topic: str | None
    status: str | None  # "active" | "paused" | "disabled"


@dataclass(frozen=True)
class CreatedWebhook:
    id: str
    secret: str


def webhooks_delivering_to(client: WooClient, url: str) -> dict[str, RemoteWebhook]:
    """The store's webhooks whose delivery URL is `url`, by remote id (every page)."""
    return {
        str(hook["id"]): RemoteWebhook(str(hook["id"]), hook.get("topic"), hook.get("status"))
        for page in client.paginate("webhooks")
        for hook in page.items
        if isinstance(hook, dict) and hook.get("delivery_url") == url and "id" in hook
    }


def create_webhook(client: WooClient, topic: str, url: str) -> CreatedWebhook:
    """Create an active webhook for `topic` delivering to `url`, signed with a new secret.

    Raises `connectors.http.ClientError` when the store refuses (a plugin topic whose plugin
    is not active, for one).
    """
    secret = new_secret()
    # WooCommerce pings the delivery URL while creating; the receiver answers the ping 200.
    created = client.post("webhooks", {"name": f"Sticky: {topic}", "topic": topic,
                                       "delivery_url": url, "secret": secret,
                                       "status": "active"})
    return CreatedWebhook(str(created["id"]), secret)


def delete_webhook(client: WooClient, remote_id: str) -> None:
    """Delete a webhook for good; one that is already gone is fine."""
    try:
        client.delete(f"webhooks/{remote_id}", {"force": "true"})
    except NotFound:
        pass
