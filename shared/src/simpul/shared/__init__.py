"""Simpul's common library: settings, database, problem+json errors, identity assertions."""
