"""WooCommerce connector."""
