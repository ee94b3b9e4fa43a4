from __future__ import annotations

from sqlalchemy import MetaData

from simpul.shared.idempotency import idempotency_table

metadata = MetaData()
idempotency = idempotency_table(metadata)
