"""webhook signing secrets sealed with the key-encryption key (envelope encryption)

Revision ID: 0005_sealed_secrets
Revises: 0004_audit

Secrets kept in clear are sealed here under the key-encryption key of the settings in the
environment; a downgrade opens them into clear columns again.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_sealed_secrets"
down_revision = "0004_audit"
branch_labels = None
depends_on = None

# (clear, sealed) columns of the current and the previous secret.
_SLOTS = (("secret", "sealed_secret"), ("previous_secret", "sealed_previous_secret"))
_subscriptions = sa.table(
    "webhook_subscriptions",
    sa.column("id", sa.String),
    sa.column("secret", sa.String),
    sa.column("previous_secret", sa.String),
    sa.column("sealed_secret", sa.LargeBinary),
    sa.column("sealed_previous_secret", sa.LargeBinary),
)


def _convert(change, columns) -> None:
    """`change(keks, value, context)` of each secret written from the first column of each pair
    of `columns` to the second."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(_subscriptions)).mappings().all()
    if not rows:
        return
    # Imported here: only a database that already holds secrets needs the settings.
    from simpul.notifications.settings import NotificationsSettings
    from simpul.notifications.webhooks import secret_context
    from simpul.shared.envelope import keys_for

    keks = keys_for(NotificationsSettings())
    for row in rows:
        values = {}
        for source, target in columns:
            if row[source] is not None:
                values[target] = change(keks, row[source], secret_context(row["id"]))
        connection.execute(sa.update(_subscriptions).where(_subscriptions.c.id == row["id"]).values(**values))


def _sealed(keks, secret: str, context: bytes) -> bytes:
    return keks.seal(secret.encode(), context)


def _opened(keks, sealed: bytes, context: bytes) -> str:
    return keks.open(sealed, context).decode()


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("sealed_secret", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("sealed_previous_secret", sa.LargeBinary, nullable=True))
    _convert(_sealed, _SLOTS)
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column("sealed_secret", existing_type=sa.LargeBinary, nullable=False)
        batch.drop_column("secret")
        batch.drop_column("previous_secret")


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("secret", sa.String(100), nullable=True))
        batch.add_column(sa.Column("previous_secret", sa.String(100), nullable=True))
    _convert(_opened, [(sealed, clear) for clear, sealed in _SLOTS])
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column("secret", existing_type=sa.String(100), nullable=False)
        batch.drop_column("sealed_secret")
        batch.drop_column("sealed_previous_secret")
