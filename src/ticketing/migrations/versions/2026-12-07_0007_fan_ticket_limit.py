"""per-fan ticket limit: an index of a fan's held and paid seats of one date

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
