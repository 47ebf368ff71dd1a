"""Kith ingest: validates, normalizes, deduplicates and publishes member activity."""

#: The service's name in logs, metrics and the database client.
SERVICE = "ingest"
__version__ = "0.1.0"
