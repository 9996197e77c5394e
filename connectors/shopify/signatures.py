"""Shopify request signatures, checked on the exact bytes received.

Webhooks: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app secret, raw body)). We compute it
on the raw bytes rather than through `shopifyapp.verify_webhook_req`, which takes the body as a
decoded `str`: a body is signed as bytes, and decoding first would reject or mangle a signed
body that is not UTF-8 instead of recording it. Both agree on every published test vector
(tests/test_signatures.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def webhook_hmac(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_webhook(body: bytes, header_value: str | None, secrets: Iterable[str | None]) -> bool:
    """True when `header_value` is the signature of `body` under any configured secret."""
    if not header_value:
        return False
    given = header_value.strip().encode()
    ok = False
    for secret in secrets:
        if secret:
            # Check every secret (no early exit) so timing does not reveal which one matched.
            ok |= hmac.compare_digest(webhook_hmac(secret, body).encode(), given)
    return ok
