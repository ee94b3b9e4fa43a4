from simpul.shared.db import run_alembic_env
from simpul.catalog.models import metadata
from simpul.catalog.settings import CatalogSettings

run_alembic_env(metadata, lambda: CatalogSettings().resolved_database_url())
