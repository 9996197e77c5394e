"""Shopify-only parts of the domain: installing Sticky on a store."""
