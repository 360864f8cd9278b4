"""Schedules, seats, reservations and payments."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("concert_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reservation_opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reservation_closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "reservation_opens_at < reservation_closes_at AND reservation_closes_at <= starts_at",
            name=op.f("ck_schedules_window_order"),
        ),
        sa.ForeignKeyConstraint(
            ["concert_id"], ["concerts.id"], name=op.f("fk_schedules_concert_id_concerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index("ix_schedules_concert_id_starts_at", "schedules", ["concert_id", "starts_at"], unique=False)
    op.create_table(
        "seats",
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="AVAILABLE", nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint("status <> 'HELD' OR held_until IS NOT NULL", name=op.f("ck_seats_held_has_deadline")),
        sa.CheckConstraint("status IN ('AVAILABLE', 'HELD', 'SOLD')", name=op.f("ck_seats_status_known")),
        sa.CheckConstraint("number > 0", name=op.f("ck_seats_number_positive")),
        sa.CheckConstraint("price > 0", name=op.f("ck_seats_price_positive")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_seats_schedule_id_schedules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seats")),
        sa.UniqueConstraint("schedule_id", "number", name="uq_seats_schedule_id_number"),
    )
    op.create_table(
        "reservations",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("seat_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')", name=op.f("ck_reservations_status_known")
        ),
        sa.CheckConstraint("price > 0", name=op.f("ck_reservations_price_positive")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_reservations_schedule_id_schedules"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name=op.f("fk_reservations_seat_id_seats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reservations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index(
        "ix_reservations_held_until_held",
        "reservations",
        ["held_until"],
        unique=False,
        postgresql_where=sa.text("status = 'HELD'"),
    )
    op.create_index("ix_reservations_user_id_status", "reservations", ["user_id", "status"], unique=False)
    op.create_index(
        "uq_reservations_live_seat",
        "reservations",
        ["seat_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('HELD', 'CONFIRMED')"),
    )
    op.create_table(
        "payments",
        sa.Column("reservation_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_payments_reservation_id_reservations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("reservation_id", name=op.f("uq_payments_reservation_id")),
    )
    op.create_index("ix_payments_user_id_id", "payments", ["user_id", "id"], unique=False)
    op.create_foreign_key(
        op.f("fk_ledger_entries_payment_id_payments"), "ledger_entries", "payments", ["payment_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_ledger_entries_payment_id_payments"), "ledger_entries", type_="foreignkey")
    op.drop_index("ix_payments_user_id_id", table_name="payments")
    op.drop_table("payments")
    op.drop_index(
        "uq_reservations_live_seat",
        table_name="reservations",
        postgresql_where=sa.text("status IN ('HELD', 'CONFIRMED')"),
    )
    op.drop_index("ix_reservations_user_id_status", table_name="reservations")
    op.drop_index(
        "ix_reservations_held_until_held", table_name="reservations", postgresql_where=sa.text("status = 'HELD'")
    )
    op.drop_table("reservations")
    op.drop_table("seats")
    op.drop_index("ix_schedules_concert_id_starts_at", table_name="schedules")
    op.drop_table("schedules")
