"""One owner per table: reservations carry their seat number; unread version columns dropped."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # A reservation is read without joining the seats table (their owner is another domain): the
    # seat number is copied at hold time, like the price.
    op.add_column("reservations", sa.Column("seat_number", sa.Integer(), nullable=True))
    op.execute("UPDATE reservations SET seat_number = seats.number FROM seats WHERE seats.id = reservations.seat_id")
    op.alter_column("reservations", "seat_number", nullable=False)
    # Incremented on every write and never read (only the seats' version serves a strategy).
    op.drop_column("reservations", "version")
    op.drop_column("wallets", "version")


def downgrade() -> None:
    op.add_column("wallets", sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("reservations", sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    op.drop_column("reservations", "seat_number")
