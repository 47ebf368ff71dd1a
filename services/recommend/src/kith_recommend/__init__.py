"""Kith recommend: communities to join, with reasons."""
