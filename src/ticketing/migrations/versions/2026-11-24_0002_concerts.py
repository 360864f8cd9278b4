"""The concerts table."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "concerts",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("venue", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("char_length(title) BETWEEN 1 AND 200", name=op.f("ck_concerts_title_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concerts")),
    )


def downgrade() -> None:
    op.drop_table("concerts")
