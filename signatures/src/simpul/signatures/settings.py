from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from simpul.shared.settings import BaseServiceSettings


class SignaturesSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "signatures"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_DATABASE_URL")
    port: int = Field(default=8003, validation_alias="SIMPUL_SIGNATURES_PORT")
