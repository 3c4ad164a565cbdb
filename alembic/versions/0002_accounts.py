"""accounts: roles, passkey names, re-authentication, audit

Revision ID: 0002
Revises: 0001
Users get roles and a disabled flag, passkeys a name, sessions their re-authentication
times per purpose, and an audit trail appears.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=48), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    # "My activity" reads one user's newest events first.
    op.create_index(op.f("ix_audit_events_user_id"), "audit_events", ["user_id", "at"])
    with op.batch_alter_table("passkeys") as batch:
        batch.add_column(
            sa.Column("name", sa.String(length=64), nullable=False, server_default="Passkey")
        )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("reauthenticated", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("roles", sa.JSON(), nullable=False, server_default='["user"]'))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("roles")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("reauthenticated")
    with op.batch_alter_table("passkeys") as batch:
        batch.drop_column("name")
    op.drop_index(op.f("ix_audit_events_user_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
