"""Simpul gateway: the single public entry."""
