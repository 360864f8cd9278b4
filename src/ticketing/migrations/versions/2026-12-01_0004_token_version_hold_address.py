"""token version on users, client address on reservations

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("reservations", sa.Column("client_address", sa.String(length=64), nullable=True))
    # The per-address hold cap counts live holds of one (schedule, address): only HELD rows matter.
    op.create_index(
        "ix_reservations_schedule_id_client_address_held",
        "reservations",
        ["schedule_id", "client_address"],
        unique=False,
        postgresql_where=sa.text("status = 'HELD'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_reservations_schedule_id_client_address_held",
        table_name="reservations",
        postgresql_where=sa.text("status = 'HELD'"),
    )
    op.drop_column("reservations", "client_address")
    op.drop_column("users", "token_version")
