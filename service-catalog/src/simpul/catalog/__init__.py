"""Simpul catalog service."""
