from simpul.gateway.models import metadata
from simpul.gateway.settings import GatewaySettings
from simpul.shared.db import run_alembic_env

run_alembic_env(metadata, lambda: GatewaySettings().resolved_database_url())
