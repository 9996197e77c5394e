"""Store analytics: figures over a period in the store's own days (`periods`, `metrics`) and
the store's latest activity (`activity`), read by `/api/metrics` and the Dashboard alike."""
