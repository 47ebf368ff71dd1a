"""Micro-community detection benchmark: metrics, synthetic tenants, and sources of clusters to compare."""
