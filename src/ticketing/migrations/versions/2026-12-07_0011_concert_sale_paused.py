"""A paused sale recorded in PostgreSQL."""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    # The operator's pause, kept where it survives Redis losing its data: the admission job
    # re-asserts the Redis flag the admission script reads from it (docs/operating.md), and the
    # public concert list says PAUSED from it without a Redis read. No index: the concerts table
    # is small and read whole by the list anyway.
    op.add_column("concerts", sa.Column("sale_paused", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("concerts", "sale_paused")
