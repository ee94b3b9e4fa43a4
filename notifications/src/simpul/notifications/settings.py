from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from simpul.shared.settings import BaseServiceSettings


class NotificationsSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "notifications"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_NOTIFICATIONS_DATABASE_URL")
    port: int = Field(default=8004, validation_alias="SIMPUL_NOTIFICATIONS_PORT")
