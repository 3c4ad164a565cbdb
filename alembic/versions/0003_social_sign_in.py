"""social sign-in: identities, and how each session was created

Revision ID: 0003
Revises: 0002
Accounts at OAuth/OpenID Connect providers are linked to users (one provider account,
one user), and sessions record whether a passkey or which provider signed them in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_identities_provider")),
    )
    op.create_index(op.f("ix_identities_user_id"), "identities", ["user_id"])
    # The email-takeover check looks accounts up by verified email.
    op.create_index(op.f("ix_identities_email"), "identities", ["email"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("method", sa.String(length=32), nullable=False, server_default="passkey")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("method")
    op.drop_index(op.f("ix_identities_email"), table_name="identities")
    op.drop_index(op.f("ix_identities_user_id"), table_name="identities")
    op.drop_table("identities")
