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
    # How long a current service document may be served from memory. Changes made through this
    # process show at once; this bounds the lag behind another process writing the same database.
    # 0 reads the database on every request.
    cache_seconds: float = Field(default=1.0, ge=0, le=60, validation_alias="SIMPUL_CATALOG_CACHE_SECONDS")
