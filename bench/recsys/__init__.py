"""Offline quality evaluation of community recommendations: data, metrics, baselines, driver."""
