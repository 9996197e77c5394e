"""Webhook receivers: read raw bytes, verify, persist to the inbox, enqueue after commit."""
