from simpul.shared.db import run_alembic_env
from simpul.notifications.models import metadata
from simpul.notifications.settings import NotificationsSettings

run_alembic_env(metadata, lambda: NotificationsSettings().resolved_database_url())
