"""recovery stand-ins: what an attempt naming no usable account counts against

Revision ID: 0009
Revises: 0008
A recovery attempt whose username names no usable account (unknown, disabled) reserves
its place against one of these rows with the statement a real account's attempt runs on
its own row, so that both write one row and commit it: before, its UPDATE matched nothing
and its commit wrote nothing, and the answer came sooner for an unknown name
(recovery/attempts.py). A fixed set of rows, made here on every backend.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# recovery/attempts.py's STAND_INS; their ids are the first numbers as UUIDs.
STAND_INS = 64


def upgrade() -> None:
    table = op.create_table(
        "recovery_stand_ins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recovery_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("recovery_failures_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_stand_ins")),
    )
    op.bulk_insert(table, [{"id": uuid.UUID(int=n)} for n in range(STAND_INS)])


def downgrade() -> None:
    op.drop_table("recovery_stand_ins")
