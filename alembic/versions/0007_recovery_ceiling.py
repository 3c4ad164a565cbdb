"""recovery ceiling: failed recovery attempts counted per account

Revision ID: 0007
Revises: 0006
Failed recovery attempts (codes, links) are counted on the account itself, whatever the
client, so that no rotation of addresses escapes the ceiling and every replica sees one
count (recovery/attempts.py). Existing accounts start with no failures.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("recovery_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("recovery_failures_since", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("recovery_failures_since")
        batch.drop_column("recovery_failures")
