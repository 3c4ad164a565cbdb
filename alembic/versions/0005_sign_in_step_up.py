"""sign-in step-up: when the passkey ceremony that started a session stepped it up

Revision ID: 0005
Revises: 0004
A passkey sign-up, sign-in or the passkey that ends a recovery session counts as the
step-up for every purpose for PASSKEY_REAUTH_WINDOW, when the explicit step-up would have
taken the same assertion. Sessions made before this revision carry none (NULL): they step
up as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("stepped_up_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("stepped_up_at")
