"""passkey attestation CAs: the CAs a chain named when it left the model uncertain

Revision ID: 0013_passkey_attestation_cas
Revises: 0012_passkey_attestation
Per passkey whose attestation certificate named no model, under a root several models'
entries list (ceremonies/attestation.py): the names of the CAs its chain named, so that
whatever the metadata reports, then or later, of any model under them is reported of the
passkey. Passkeys registered before read as "[]": such an attestation was stored as not
verified then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_passkey_attestation_cas"
down_revision: str | None = "0012_passkey_attestation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: both backends add the column without rewriting the rows.
    with op.batch_alter_table("passkeys") as batch:
        batch.add_column(
            sa.Column(
                "attestation_ca_names", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )


def downgrade() -> None:
    # Without the column such a passkey would answer for its claimed model alone: it goes
    # back to what 0012 stored for it, not verified.
    op.execute(
        "UPDATE passkeys SET attestation_verified = false "
        "WHERE CAST(attestation_ca_names AS TEXT) != '[]'"
    )
    with op.batch_alter_table("passkeys") as batch:
        batch.drop_column("attestation_ca_names")
