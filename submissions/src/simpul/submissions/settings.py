from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from simpul.shared.settings import BaseServiceSettings


class SubmissionsSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "submissions"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_SUBMISSIONS_DATABASE_URL")
    port: int = Field(default=8002, validation_alias="SIMPUL_SUBMISSIONS_PORT")
