"""Simpul signatures service."""
