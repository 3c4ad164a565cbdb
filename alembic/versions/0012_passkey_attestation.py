"""passkey attestation: what a registration's attestation showed

Revision ID: 0012_passkey_attestation
Revises: 0011_decoy_seed
Per passkey: the attestation type (none, self, basic, attca, anonca), whether its chain
verified to a root the authenticator metadata gives for the model, and, for a key with no
AAGUID (U2F), its attestation certificate's key identifier (ceremonies/attestation.py).
Passkeys registered before read as "none, not verified", which is what was learned then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_passkey_attestation"
down_revision: str | None = "0011_decoy_seed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Constant defaults: both backends add the columns without rewriting the rows'
    # values one by one (SQLite's ADD COLUMN; PostgreSQL 11+ keeps the default aside).
    with op.batch_alter_table("passkeys") as batch:
        batch.add_column(
            sa.Column(
                "attestation_type", sa.String(length=8), nullable=False, server_default="none"
            )
        )
        batch.add_column(
            sa.Column(
                "attestation_verified", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(
            sa.Column("attestation_key_identifier", sa.String(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.drop_column("attestation_key_identifier")
        batch.drop_column("attestation_verified")
        batch.drop_column("attestation_type")
