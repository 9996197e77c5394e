"""Embed tokens: how the WooCommerce companion plugin shows a signed-in customer their rewards.

The plugin's "Rewards" page in My Account frames `APP_URL/embed/rewards?token=<token>`. The
token is minted by the plugin for the WordPress user who is signed in, and reads

    v1.<payload>.<signature>

- `payload`: base64url (no padding) of the JSON `{"store": <Sticky's store id>, "user":
  "<WordPress user id>", "exp": <unix seconds>}`;
- `signature`: hex HMAC-SHA256 of `v1.<payload>` keyed with the embed key.

**The shared secret.** Sticky and the plugin already share one secret per store: the secret
of the `sticky_cart.updated` webhook that Sticky created on the store (Sticky keeps it
encrypted in `woo_webhooks`; WooCommerce keeps it with the webhook, where the plugin reads
it). The webhook's delivery URL, `APP_URL/webhooks/woocommerce/<store id>`, also tells the
plugin where Sticky is and which store it is. A signing secret is not reused as it is: both
sides derive the embed key as hex HMAC-SHA256(webhook secret, "sticky-embed-token-v1").
When Sticky recreates the webhook (new secret), the plugin reads the new one on the next page
view; a token minted under the old one fails and the shopper reloads.

A token lives at most `MAX_TOKEN_SECONDS`; one that is forged, expired, for a store that is
not this token's, or for an unknown or disconnected store is refused, and nothing is shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import CredentialError, decrypt
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook
from connectors.woocommerce.carts import TOPIC as CART_TOPIC  # its webhook holds the secret

VERSION = "v1"
KEY_CONTEXT = b"sticky-embed-token-v1"
MAX_TOKEN_SECONDS = 15 * 60  # the plugin mints 10 minutes; a little slack for clocks
CLOCK_SKEW_SECONDS = 60
_USER_ID = re.compile(r"^[1-9][0-9]{0,19}$")


class EmbedRefused(Exception):
    """Not a token Sticky can honour; `reason` is safe to show (it names nothing)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EmbedIdentity:
    shop: Shop
    user_id: str  # the WordPress user id: the profile's platform customer id


def embed_key(webhook_secret: str) -> bytes:
    return hmac.new(webhook_secret.encode(), KEY_CONTEXT, hashlib.sha256).hexdigest().encode()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(webhook_secret: str, store_id: int, user_id: str, *, ttl: int = 600,
               now: float | None = None) -> str:
    """What the plugin does (for tests and tools): a token for `user_id` of store `store_id`."""
    issued = int(time.time() if now is None else now)
    payload = _b64encode(json.dumps({"store": store_id, "user": str(user_id),
                                     "exp": issued + ttl}, separators=(",", ":")).encode())
    signed = f"{VERSION}.{payload}"
    signature = hmac.new(embed_key(webhook_secret), signed.encode(), hashlib.sha256).hexdigest()
    return f"{signed}.{signature}"


def _shared_secrets(session: Session, shop_id: int) -> list[str]:
    ciphertexts = session.scalars(select(WooWebhook.secret_encrypted).where(
        WooWebhook.shop_id == shop_id, WooWebhook.topic == CART_TOPIC,
        WooWebhook.secret_encrypted.is_not(None)))
    found = []
    for ciphertext in ciphertexts:
        try:
            found.append(decrypt(ciphertext))
        except CredentialError:
            continue
    return found


def _signature_ok(signed: str, given: str, secrets: Iterable[str]) -> bool:
    given_bytes = given.lower().encode()
    ok = False
    for secret in secrets:
        expected = hmac.new(embed_key(secret), signed.encode(), hashlib.sha256).hexdigest()
        ok |= hmac.compare_digest(expected.encode(), given_bytes)
    return ok


def verify_token(session: Session, token: str | None, *,
                 now: float | None = None) -> EmbedIdentity:
    """The store and WordPress user a token was minted for, or EmbedRefused."""
    refused = EmbedRefused("This rewards page is not valid or has expired. Reload the page "
                           "in your account to open it again.")
    parts = (token or "").strip().split(".")
    if len(parts) != 3 or parts[0] != VERSION or not parts[1] or len(parts[2]) != 64:
        raise refused
    try:
        claims = json.loads(_b64decode(parts[1]))
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(claims, dict):
        raise refused
    store, user, expires = claims.get("store"), claims.get("user"), claims.get("exp")
    if (isinstance(store, bool) or not isinstance(store, int) or store <= 0
            or store > 2**63 - 1 or not isinstance(user, str) or not _USER_ID.match(user)
            or isinstance(expires, bool) or not isinstance(expires, int)):
        raise refused
    shop = session.execute(select(Shop).where(
        Shop.id == store, Shop.platform == "woocommerce")).scalar_one_or_none()
    # The signature is checked with the named store's own secret: a token minted by another
    # store's plugin, renamed to this store, does not verify.
    if shop is None or not _signature_ok(f"{VERSION}.{parts[1]}", parts[2],
                                         _shared_secrets(session, shop.id)):
        raise refused
    current = time.time() if now is None else now
    if expires < current - CLOCK_SKEW_SECONDS or expires > current + MAX_TOKEN_SECONDS:
        raise refused
    if shop.status != "active":
        raise EmbedRefused("Rewards are not available in this store right now.")
    return EmbedIdentity(shop=shop, user_id=user)
