from simpul.shared.db import run_alembic_env
from simpul.submissions.models import metadata
from simpul.submissions.settings import SubmissionsSettings

run_alembic_env(metadata, lambda: SubmissionsSettings().resolved_database_url())
