from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from simpul.shared.settings import BaseServiceSettings


class CatalogSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "catalog"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_CATALOG_DATABASE_URL")
    port: int = Field(default=8001, validation_alias="SIMPUL_CATALOG_PORT")
    # Load the demo catalogue (demo_services.json) at start-up; `make run` turns it on.
    demo: bool = Field(default=False, validation_alias="SIMPUL_DEMO")
