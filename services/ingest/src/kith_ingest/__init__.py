"""Kith ingest: validates, normalizes, deduplicates and publishes member activity."""

__version__ = "0.1.0"
