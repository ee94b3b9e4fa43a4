from simpul.shared.db import run_alembic_env
from simpul.submissions.feedback import models as feedback_models  # noqa: F401  (its tables join the one MetaData)
from simpul.submissions.payments import models as payments_models  # noqa: F401  (likewise)
from simpul.submissions.models import metadata
from simpul.submissions.settings import SubmissionsSettings

run_alembic_env(metadata, lambda: SubmissionsSettings().resolved_database_url())
