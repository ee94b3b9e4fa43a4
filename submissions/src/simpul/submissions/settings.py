from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from simpul.shared.settings import BaseServiceSettings


class SubmissionsSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "submissions"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_SUBMISSIONS_DATABASE_URL")
    port: int = Field(default=8002, validation_alias="SIMPUL_SUBMISSIONS_PORT")

    # Extra holidays / working days on top of the `holidays` package (format in calendar.py).
    calendar_file: Path | None = Field(default=None, validation_alias="SIMPUL_CALENDAR_FILE")
    # How long an answer of the catalogue is reused (0: ask for every new submission).
    catalog_cache_seconds: float = Field(default=5.0, validation_alias="SIMPUL_SUBMISSIONS_CATALOG_CACHE_SECONDS")
    # Ceiling for any upload, whatever a requirement's max_bytes says.
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, validation_alias="SIMPUL_SUBMISSIONS_MAX_UPLOAD_BYTES")

    # The worker that asks the signatures service for the output document of approved submissions.
    issue_poll_seconds: float = Field(default=5.0, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_POLL_SECONDS")
    issue_retry_base_seconds: float = Field(default=2.0, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_RETRY_BASE_SECONDS")
    issue_retry_max_seconds: float = Field(default=300.0, validation_alias="SIMPUL_SUBMISSIONS_ISSUE_RETRY_MAX_SECONDS")

    def storage_dir(self) -> Path:
        return self.data_dir / "submissions-files"
