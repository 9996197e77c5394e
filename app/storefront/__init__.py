"""What shoppers open on a store: the rewards widget, through two doors.

- Shopify: the app proxy (`/proxy/...`, proxy_views.py), signed by Shopify, rendered inside
  the store's theme; the theme app extension (`extensions/sticky-rewards/`) adds a launcher.
- WooCommerce: the companion plugin's My Account page frames `/embed/...` (embed_views.py)
  with a signed, expiring token.

Both show `app.loyalty.widget.widget_view` through the same templates (page.py).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("storefront", __name__)

from app.storefront import embed_views, proxy_views  # noqa: E402,F401  (routes register on import)
