"""Platform-neutral history backfill and reconciliation (runner, sources, progress records)."""
