"""Shopify's mandatory privacy requests (customers/data_request, customers/redact, shop/redact)
and the app/uninstalled lifecycle event: models, the work itself, and its audit trail."""
