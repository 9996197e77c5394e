"""Fixtures shared by the loyalty tests."""

from tests.loyalty.referral_support import shopify_discounts  # noqa: F401 - a fixture
