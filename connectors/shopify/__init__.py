"""Shopify connector: webhook signatures and payload normalization (Admin API later)."""
