"""decoy seed: the secret that keys the decoys of unknown usernames

Revision ID: 0011_decoy_seed
Revises: 0010_authenticator_metadata
The decoy credential listed for an unknown username was keyed with a key derived from
PASSKEY_SECRET_KEY, so every decoy changed when the key was rotated while real accounts'
credentials stayed: comparing a name's options across a rotation told whether it had an
account. Decoys are now keyed from a random seed kept here, the same for every replica and
untouched by a rotation (ceremonies/decoys.py). One row, made at the first start-up after
this migration (storage/decoy_seed.py: an insert that tolerates another replica's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_decoy_seed"
down_revision: str | None = "0010_authenticator_metadata"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "decoy_seed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_decoy_seed_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decoy_seed")),
    )


def downgrade() -> None:
    op.drop_table("decoy_seed")
