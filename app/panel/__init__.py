"""The admin panel (`/admin/...`): one set of pages behind two doors.

- Embedded in the Shopify admin: App Bridge supplies a session token (`id_token` on document
  requests, a hidden form field on posts); `app.panel.door` verifies it.
- Standalone (WooCommerce merchants, the demo): a signed-in account with a selected store,
  and Flask-WTF's CSRF token on every post.

Pages are server-rendered Jinja2 (`templates/panel/`) composed of the Polaris-like macros in
`templates/components/polaris.html`. They read through the same query modules as `/api`
(`app.customers.query`, `app.analytics.metrics`, `app.settings`), so the panel and the API
never disagree.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("panel", __name__)

from app.panel import (  # noqa: E402,F401  (routes register on import)
    analytics,
    analytics_predictions,
    analytics_rfm,
    assets,
    customer_import,
    customers,
    dashboard,
    embedded,
    flow_email,
    flow_outbox,
    flow_suppressions,
    flows,
    loyalty,
    loyalty_members,
    loyalty_preview,
    loyalty_referrals,
    loyalty_rewards,
    segments,
    settings,
)
