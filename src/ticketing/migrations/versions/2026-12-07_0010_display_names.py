"""A display name apart from the sign-in name."""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


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
