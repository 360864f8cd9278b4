"""a display name apart from the sign-in name

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What the pages call the fan (Korean allowed: users/names.py checks it). Not unique: nobody
    # signs in with it. The bound is the database's last word on size (the service allows 20
    # graphemes; one grapheme may be several code points).
    op.add_column("users", sa.Column("display_name", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_users_display_name_length"), "users", "char_length(display_name) BETWEEN 1 AND 64"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_display_name_length"), "users", type_="check")
    op.drop_column("users", "display_name")
