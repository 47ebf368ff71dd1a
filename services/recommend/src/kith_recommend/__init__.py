"""Kith recommend: communities to join, with reasons."""

#: The service's name in logs, metrics and the database client.
SERVICE = "recommend"
__version__ = "0.1.0"
