"""Kith scoring: effectively-once engagement metrics in MongoDB, served and explained."""

from typing import Final

#: The service's name in metrics, logs and client names.
SERVICE: Final = "scoring"
