"""authenticator metadata: verified versions of the FIDO Metadata Service's BLOB

Revision ID: 0010_authenticator_metadata
Revises: 0009
One row per stored version (its `no`), so that every replica loads the same newest one
(authenticators/): the verified payload as JSON text, its nextUpdate, when and from where
it was stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_authenticator_metadata"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authenticator_metadata",
        sa.Column("no", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("next_update", sa.Date(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("no", name=op.f("pk_authenticator_metadata")),
    )


def downgrade() -> None:
    op.drop_table("authenticator_metadata")
