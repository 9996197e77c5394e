"""Keeping Sticky's webhooks alive on a WooCommerce store, with their secrets.

WooCommerce never retries a failed delivery and disables a webhook after 5 consecutive
failures (any non-2xx). `ensure_webhooks` is therefore run on connect and periodically: it
lists the store's webhooks, keeps each of Sticky's that is active, and recreates (with a new
secret) any that is disabled, paused, missing or unknown to Sticky. The calls to the store
are the connector's (connectors/woocommerce/webhooks.py); the rows, with each secret
encrypted, are kept here (WooWebhook).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import encrypt
from app.db import utcnow
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook
from connectors.http import ClientError
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.webhooks import (
    TOPICS,
    create_webhook,
    delete_webhook,
    delivery_url,
    webhooks_delivering_to,
)

log = logging.getLogger(__name__)


@dataclass
class EnsureResult:
    kept: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # remote ids of strays
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{len(self.kept)} active", f"{len(self.created)} created",
                 f"{len(self.recreated)} recreated"]
        if self.removed:
            parts.append(f"{len(self.removed)} stray removed")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def ensure_webhooks(session: Session, shop: Shop, client: WooClient, app_url: str,
                    topics: tuple[str, ...] = TOPICS) -> EnsureResult:
    """Make every topic's webhook exist and be active on the store. Commits per change, so a
    secret is never lost once the store has the webhook."""
    result = EnsureResult()
    url = delivery_url(app_url, shop.id)
    remote = webhooks_delivering_to(client, url)
    rows = {row.topic: row for row in session.execute(
        select(WooWebhook).where(WooWebhook.shop_id == shop.id)).scalars()}
    now = utcnow()
    wanted: set[str] = set()
    for topic in topics:
        row = rows.get(topic)
        hook = remote.get(row.remote_id) if row is not None and row.remote_id else None
        if hook is not None and hook.status == "active" and hook.topic == topic:
            wanted.add(hook.id)
            row.status, row.error, row.last_checked_at = "active", None, now
            result.kept.append(topic)
            continue
        had_one = row is not None and row.remote_id is not None
        if hook is not None:
            # Disabled after failures, or paused: a fresh webhook starts with a clean record.
            log.warning("woocommerce.webhook.recreating",
                        extra={"shop_id": shop.id, "topic": topic, "status": hook.status})
            delete_webhook(client, hook.id)
        try:
            created = create_webhook(client, topic, url)
        except ClientError as exc:
            reason = f"the store refused to create it ({exc.status}): {exc.body[:300]}"
            log.warning("woocommerce.webhook.create_refused",
                        extra={"shop_id": shop.id, "topic": topic, "status": exc.status})
            if row is None:
                row = WooWebhook(shop_id=shop.id, topic=topic)
                session.add(row)
            row.remote_id, row.secret_encrypted = None, None
            row.status, row.error, row.last_checked_at = "failed", reason, now
            session.commit()
            result.failed[topic] = reason
            continue
        if row is None:
            row = WooWebhook(shop_id=shop.id, topic=topic)
            session.add(row)
        row.remote_id, row.secret_encrypted = created.id, encrypt(created.secret)
        row.status, row.error, row.last_checked_at = "active", None, now
        session.commit()
        wanted.add(created.id)
        (result.recreated if had_one else result.created).append(topic)
    # Webhooks aimed at this store's URL that Sticky holds no secret for (a lost row, a
    # concurrent run) would only fail signature checks until WooCommerce disables them.
    for remote_id in sorted(set(remote) - wanted):
        if remote[remote_id].topic in topics:
            delete_webhook(client, remote_id)
            result.removed.append(remote_id)
    session.commit()
    return result
