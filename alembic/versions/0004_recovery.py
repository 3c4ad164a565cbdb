"""recovery: one-time recovery codes, a recovery email address, restricted sessions

Revision ID: 0004
Revises: 0003
Users get a verified recovery email address, sessions a scope ("full", or "recovery"
for the restricted session a recovery code or an emailed link creates), and a table
holds the HMACs of each user's recovery codes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        # Also the index for "this user's codes" (user_id leads).
        sa.UniqueConstraint("user_id", "code_hash", name=op.f("uq_recovery_codes_user_id")),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
        # NULLs never collide, so only addresses that are set must be unique.
        batch.create_unique_constraint(op.f("uq_users_email"), ["email"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="full")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_email"), type_="unique")
        batch.drop_column("email_verified_at")
        batch.drop_column("email")
    op.drop_table("recovery_codes")
