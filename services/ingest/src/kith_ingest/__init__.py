"""Kith ingest: validates, normalizes, deduplicates and publishes member activity."""
