"""passkey attestation models: the models a passkey's attestation could equally be

Revision ID: 0013_passkey_attestation_models
Revises: 0012_passkey_attestation
Per passkey, the other models its attestation proved it could be, when its certificate
named no model under a root several models' entries list (ceremonies/attestation.py):
what the metadata reports of any of them is reported of the passkey. Passkeys registered
before read as "[]": such an attestation was stored as not verified then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_passkey_attestation_models"
down_revision: str | None = "0012_passkey_attestation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: both backends add the column without rewriting the rows.
    with op.batch_alter_table("passkeys") as batch:
        batch.add_column(
            sa.Column(
                "attestation_models", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.drop_column("attestation_models")
