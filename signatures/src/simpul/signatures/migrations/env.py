from simpul.shared.db import run_alembic_env
from simpul.signatures.models import metadata
from simpul.signatures.settings import SignaturesSettings

run_alembic_env(metadata, lambda: SignaturesSettings().resolved_database_url())
