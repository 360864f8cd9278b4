"""Per-fan ticket limit: an index of a fan's held and paid seats of one date."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

LIVE = "status IN ('HELD', 'CONFIRMED')"


def upgrade() -> None:
    # Every hold counts the fan's HELD and CONFIRMED seats of the date (TICKETING_MAX_TICKETS_PER_FAN)
    # under the fan's lock: only those rows matter, found by (user, date).
    op.create_index(
        "ix_reservations_user_id_schedule_id_live",
        "reservations",
        ["user_id", "schedule_id"],
        unique=False,
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_reservations_user_id_schedule_id_live", table_name="reservations", postgresql_where=sa.text(LIVE))
