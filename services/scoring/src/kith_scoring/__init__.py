"""Kith scoring: effectively-once engagement metrics in MongoDB, served and explained."""
