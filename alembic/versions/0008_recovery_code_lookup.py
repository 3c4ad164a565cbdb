"""recovery code lookups: codes stored as salted scrypt hashes, found by their lookup

Revision ID: 0008
Revises: 0007
A recovery code now starts with a lookup (its first group) naming its row, and the row
keeps a random salt and the code's scrypt hash, so that one attempt costs one slow hash.
Rows already there keep their HMAC (no lookup, no salt): those codes are still accepted,
once each, until the user makes a new set.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recovery_codes") as batch:
        batch.add_column(sa.Column("lookup", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("salt", sa.LargeBinary(length=16), nullable=True))
    op.create_index(
        "ix_recovery_codes_user_id_lookup",
        "recovery_codes",
        ["user_id", "lookup"],
        unique=True,
    )


def downgrade() -> None:
    # Codes with a lookup mean nothing to the code before it: they go (users make new sets).
    op.execute("DELETE FROM recovery_codes WHERE lookup IS NOT NULL")
    op.drop_index("ix_recovery_codes_user_id_lookup", table_name="recovery_codes")
    with op.batch_alter_table("recovery_codes") as batch:
        batch.drop_column("salt")
        batch.drop_column("lookup")
