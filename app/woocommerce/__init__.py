"""Connecting WooCommerce stores: the key handshake, Sticky's webhooks on each store."""
