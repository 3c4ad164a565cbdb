"""session generation: a session being created when all of a user's sessions end

Revision ID: 0006
Revises: 0005
Ending all of a user's sessions (disabling the account, an admin's forced sign-out) moves
the user to a new session generation; a session works only while it carries its user's
current one, so a session written by a sign-in that read the user before the change never
works, even once the account is enabled again. Existing rows start at 0 alike.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("user_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("user_generation")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
