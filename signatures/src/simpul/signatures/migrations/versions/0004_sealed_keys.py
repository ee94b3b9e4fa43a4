"""private keys sealed with the key-encryption key (envelope encryption); certificates' audit history

Revision ID: 0004
Revises: 0003

Keys encrypted by 0002's scheme (PKCS#8 under SIMPUL_SIGNATURES_KEY_PASSPHRASE or the generated
passphrase file) are sealed here under the key-encryption key of the settings in the
environment; a downgrade encrypts them with the passphrase again.
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_certificates = sa.table(
    "certificates",
    sa.column("id", sa.String),
    sa.column("fingerprint", sa.String),
    sa.column("private_key", sa.LargeBinary),
)


def _keys():
    # Imported here: only a database that already holds keys needs the settings.
    from simpul.shared.envelope import keys_for
    from simpul.signatures.settings import SignaturesSettings

    settings = SignaturesSettings()
    return keys_for(settings), settings.resolved_key_passphrase()


def _convert(change) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_certificates).where(_certificates.c.private_key.is_not(None))).all()
    if not rows:
        return
    keks, passphrase = _keys()
    for row in rows:
        connection.execute(sa.update(_certificates).where(_certificates.c.id == row.id)
                           .values(private_key=change(keks, passphrase, row)))


def _sealed(keks, passphrase, row) -> bytes:
    from simpul.signatures import pki
    from simpul.signatures.keystore import seal_context

    key = pki.decrypt_key(row.private_key, passphrase)
    return keks.seal(pki.plain_pkcs8(key), seal_context(row.fingerprint))


def _encrypted(keks, passphrase, row) -> bytes:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    from simpul.signatures import pki
    from simpul.signatures.keystore import seal_context

    key = load_der_private_key(keks.open(row.private_key, seal_context(row.fingerprint)), password=None)
    return pki.encrypt_key(key, passphrase)


def upgrade() -> None:
    op.create_table(
        "certificate_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("certificate_id", sa.String(36), sa.ForeignKey("certificates.id"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_certificate_events_certificate", "certificate_events", ["certificate_id", "id"])
    _convert(_sealed)


def downgrade() -> None:
    _convert(_encrypted)
    op.drop_index("ix_certificate_events_certificate", table_name="certificate_events")
    op.drop_table("certificate_events")
