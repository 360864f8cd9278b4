"""Token version on users, client address on reservations."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


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
