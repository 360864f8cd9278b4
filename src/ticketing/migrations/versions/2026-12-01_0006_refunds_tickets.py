"""Box office: refunds (payment status, REFUNDED reservations, REFUND ledger rows) and e-tickets."""

import sqlalchemy as sa
from alembic import op

from ticketing.migrations.helpers import replace_check

revision = "0006"
down_revision = "0005"

OLD_BALANCE_CEILING = 100_000_000
# A refund restores money that was in the wallet, whatever the balance cap (which bounds charges):
# the database's ceiling only guards against nonsense (ticketing/wallets/models.py).
BALANCE_CEILING = 1_000_000_000_000

# A ticket code: 32 upper-case hex digits of a version 4 UUID (122 random bits from PostgreSQL's
# pg_strong_random; built in since PostgreSQL 13, no pgcrypto needed). Same as tickets/sql.py.
NEW_CODE = "upper(replace(gen_random_uuid()::text, '-', ''))"


def upgrade() -> None:
    # -- payments: PAID or REFUNDED, and when --------------------------------------------------
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("payments", sa.Column("status", sa.String(length=16), server_default="PAID", nullable=False))
    op.add_column("payments", sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_payments_status_known"), "payments", "status IN ('PAID', 'REFUNDED')")
    op.create_check_constraint(
        op.f("ck_payments_refunded_has_time"), "payments", "(status = 'REFUNDED') = (refunded_at IS NOT NULL)"
    )

    # -- reservations: a paid reservation whose payment was refunded ---------------------------
    replace_check(
        "reservations",
        "ck_reservations_status_known",
        "status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED', 'REFUNDED')",
    )

    # -- wallets and their ledger: a refund is credited past the cap, once per payment ----------
    replace_check("wallets", "ck_wallets_balance_in_range", f"balance >= 0 AND balance <= {BALANCE_CEILING}")
    op.create_check_constraint(
        op.f("ck_ledger_entries_refund_names_payment"), "ledger_entries", "kind <> 'REFUND' OR payment_id IS NOT NULL"
    )
    op.create_index(
        "uq_ledger_entries_refund_payment_id",
        "ledger_entries",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'REFUND'"),
    )

    # -- tickets: one per payment ------------------------------------------------------------------
    op.create_table(
        "tickets",
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reservation_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("concert_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("seat_id", sa.BigInteger(), nullable=False),
        sa.Column("seat_number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="VALID", nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('VALID', 'USED', 'REFUNDED')", name=op.f("ck_tickets_status_known")),
        sa.CheckConstraint("(status = 'USED') = (checked_in_at IS NOT NULL)", name=op.f("ck_tickets_used_has_time")),
        sa.CheckConstraint("code ~ '^[0-9A-F]{32}$'", name=op.f("ck_tickets_code_format")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_tickets_payment_id_payments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_tickets_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tickets_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["seat_id"], ["seats.id"], name=op.f("fk_tickets_seat_id_seats"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("code", name=op.f("uq_tickets_code")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_tickets_payment_id")),
    )
    op.create_index("ix_tickets_user_id_id", "tickets", ["user_id", "id"], unique=False)
    # Every payment made before tickets existed gets its ticket: a paid reservation always has one.
    op.execute(
        "INSERT INTO tickets (payment_id, reservation_id, user_id, concert_id, schedule_id, seat_id, seat_number, code) "  # noqa: S608 - NEW_CODE is this file's constant
        "SELECT payments.id, payments.reservation_id, payments.user_id, schedules.concert_id, reservations.schedule_id, "
        f"reservations.seat_id, reservations.seat_number, {NEW_CODE} "
        "FROM payments JOIN reservations ON reservations.id = payments.reservation_id "
        "JOIN schedules ON schedules.id = reservations.schedule_id ORDER BY payments.id"
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_user_id_id", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(
        "uq_ledger_entries_refund_payment_id", table_name="ledger_entries", postgresql_where=sa.text("kind = 'REFUND'")
    )
    op.drop_constraint(op.f("ck_ledger_entries_refund_names_payment"), "ledger_entries", type_="check")
    # Fails if a refund took a balance past the old ceiling: such a wallet cannot be represented there.
    replace_check("wallets", "ck_wallets_balance_in_range", f"balance >= 0 AND balance <= {OLD_BALANCE_CEILING}")
    # The old schema has no refunded reservation: the nearest it knows is a cancelled one.
    op.execute("UPDATE reservations SET status = 'CANCELLED' WHERE status = 'REFUNDED'")
    replace_check(
        "reservations", "ck_reservations_status_known", "status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')"
    )
    op.drop_constraint(op.f("ck_payments_refunded_has_time"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_status_known"), "payments", type_="check")
    op.drop_column("payments", "refunded_at")
    op.drop_column("payments", "status")
