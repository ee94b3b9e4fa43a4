"""Simpul submissions service."""
