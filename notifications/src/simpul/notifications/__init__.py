"""Simpul notifications service."""
