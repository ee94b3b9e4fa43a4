"""signing keys sealed (envelope encryption), with the time each starts signing; their audit history

Revision ID: 0003
Revises: 0002

Keys stored in the clear by 0001 are sealed here under the key-encryption key of the settings
in the environment (SIMPUL_KEY_ENCRYPTION_KEY, ..._FILE or the generated file under
SIMPUL_DATA_DIR); a downgrade opens them again with it.
"""
import sqlalchemy as sa
from alembic import op
from cryptography.hazmat.primitives import serialization

from simpul.shared.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_keys = sa.table(
    "signing_keys",
    sa.column("kid", sa.String),
    sa.column("private_key_pem", sa.Text),
    sa.column("sealed_private_key", sa.LargeBinary),
    sa.column("created_at", UTCDateTime()),
    sa.column("signs_from", UTCDateTime()),
)


def _key_encryption_keys():
    # Imported here: only a database that already holds keys needs the settings.
    from simpul.gateway.keys import seal_context
    from simpul.gateway.settings import GatewaySettings
    from simpul.shared.envelope import keys_for

    return keys_for(GatewaySettings()), seal_context


def upgrade() -> None:
    op.create_table(
        "signing_key_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_signing_key_events_kid", "signing_key_events", ["kid", "id"])
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("sealed_private_key", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("signs_from", UTCDateTime(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_keys.c.kid, _keys.c.private_key_pem, _keys.c.created_at)).all()
    if rows:
        keks, context = _key_encryption_keys()
        for row in rows:
            der = serialization.load_pem_private_key(row.private_key_pem.encode("ascii"), password=None).private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            connection.execute(sa.update(_keys).where(_keys.c.kid == row.kid).values(
                sealed_private_key=keks.seal(der, context(row.kid)), signs_from=row.created_at))
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("private_key_pem")
        batch.alter_column("sealed_private_key", existing_type=sa.LargeBinary, nullable=False)
        batch.alter_column("signs_from", existing_type=UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("private_key_pem", sa.Text, nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_keys.c.kid, _keys.c.sealed_private_key)).all()
    if rows:
        keks, context = _key_encryption_keys()
        for row in rows:
            key = serialization.load_der_private_key(keks.open(row.sealed_private_key, context(row.kid)), password=None)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode("ascii")
            connection.execute(sa.update(_keys).where(_keys.c.kid == row.kid).values(private_key_pem=pem))
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("sealed_private_key")
        batch.drop_column("signs_from")
        batch.alter_column("private_key_pem", existing_type=sa.Text, nullable=False)
    op.drop_index("ix_signing_key_events_kid", table_name="signing_key_events")
    op.drop_table("signing_key_events")
