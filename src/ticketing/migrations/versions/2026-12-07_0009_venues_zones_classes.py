"""Venues, zones, seat templates; price classes; seats gain zone, row, label, class; an unsold-seat index."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"

# The zone and class of a date made from seat_count and price (schedules/service.py says the same).
PLAIN_ZONE = "Hall"
PLAIN_CLASS = "Standard"
PLAIN_COLOR = "#0072B2"
MAX_SEATS = 100_000


def upgrade() -> None:
    op.create_table(
        "venues",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seat_count", sa.Integer(), nullable=False),
        sa.Column("categories", postgresql.JSONB(), nullable=False),
        sa.Column("plan", sa.LargeBinary(), nullable=False),
        sa.Column("plan_etag", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"seat_count BETWEEN 1 AND {MAX_SEATS}", name=op.f("ck_venues_seat_count_in_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
    )
    op.add_column("schedules", sa.Column("venue_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_schedules_venue_id_venues"), "schedules", "venues", ["venue_id"], ["id"])
    op.create_table(
        "zones",
        sa.Column("venue_id", sa.BigInteger(), nullable=True),
        sa.Column("schedule_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False, server_default="0"),
        sa.Column("y", sa.Float(), nullable=False, server_default="0"),
        sa.Column("seat_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        # A zone is a venue's, or the one zone of a date made from seat_count (never both).
        sa.CheckConstraint("(venue_id IS NULL) <> (schedule_id IS NULL)", name=op.f("ck_zones_one_owner")),
        sa.CheckConstraint("seat_count >= 0", name=op.f("ck_zones_seat_count_not_negative")),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name=op.f("fk_zones_venue_id_venues"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_zones_schedule_id_schedules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
    )
    op.create_index("ix_zones_venue_id_ordinal", "zones", ["venue_id", "ordinal"], unique=False)
    op.create_index("ix_zones_schedule_id", "zones", ["schedule_id"], unique=False)
    op.create_table(
        "venue_seats",
        sa.Column("venue_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.BigInteger(), nullable=False),
        sa.Column("row", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("guid", sa.String(length=128), nullable=False),
        sa.CheckConstraint("number > 0", name=op.f("ck_venue_seats_number_positive")),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_venue_seats_venue_id_venues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_venue_seats_zone_id_zones")),
        sa.PrimaryKeyConstraint("venue_id", "number", name=op.f("pk_venue_seats")),
        sa.UniqueConstraint("venue_id", "guid", name="uq_venue_seats_venue_id_guid"),
    )
    op.create_table(
        "schedule_classes",
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("color", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("seat_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_schedule_classes_price_positive")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_classes_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "name", name=op.f("pk_schedule_classes")),
    )

    # -- seats: zone, row, label and class --------------------------------------------------------
    op.add_column("seats", sa.Column("zone_id", sa.BigInteger(), nullable=True))
    op.add_column("seats", sa.Column("row", sa.String(length=64), server_default="1", nullable=False))
    op.add_column("seats", sa.Column("label", sa.String(length=64), server_default="", nullable=False))
    op.add_column("seats", sa.Column("class_name", sa.String(length=64), server_default=PLAIN_CLASS, nullable=False))
    # Every date made before venues existed becomes a plain date: one zone, one class.
    op.execute(
        "INSERT INTO zones (schedule_id, name, ordinal, seat_count) "  # noqa: S608 - this file's constants
        f"SELECT schedules.id, '{PLAIN_ZONE}', 0, (SELECT count(*) FROM seats WHERE seats.schedule_id = schedules.id) "
        "FROM schedules"
    )
    op.execute(
        "UPDATE seats SET zone_id = zones.id, label = seats.number::text FROM zones "
        "WHERE zones.schedule_id = seats.schedule_id"
    )
    op.execute(
        "INSERT INTO schedule_classes (schedule_id, name, ordinal, price, color, seat_count) "  # noqa: S608 - constants
        f"SELECT schedule_id, '{PLAIN_CLASS}', 0, min(price), '{PLAIN_COLOR}', count(*) FROM seats GROUP BY schedule_id"
    )
    op.alter_column("seats", "zone_id", nullable=False)
    op.create_foreign_key(op.f("fk_seats_zone_id_zones"), "seats", "zones", ["zone_id"], ["id"])
    # One zone's seats in seat order (the zone endpoint) and a class's seats (best available).
    op.create_index("ix_seats_schedule_id_zone_id_number", "seats", ["schedule_id", "zone_id", "number"])
    op.create_index("ix_seats_schedule_id_class_name_number", "seats", ["schedule_id", "class_name", "number"])
    # The payment's "all sold but these" check and the sold-out check look for one unsold seat of
    # a date: through this index that is one index probe, however many seats are sold (without
    # it, a walk past every sold seat: O(sold seats) per payment at the end of a sale).
    op.create_index("ix_seats_unsold", "seats", ["schedule_id", "id"], postgresql_where=sa.text("status <> 'SOLD'"))


def downgrade() -> None:
    op.drop_index("ix_seats_unsold", table_name="seats", postgresql_where=sa.text("status <> 'SOLD'"))
    op.drop_index("ix_seats_schedule_id_class_name_number", table_name="seats")
    op.drop_index("ix_seats_schedule_id_zone_id_number", table_name="seats")
    op.drop_constraint(op.f("fk_seats_zone_id_zones"), "seats", type_="foreignkey")
    op.drop_column("seats", "class_name")
    op.drop_column("seats", "label")
    op.drop_column("seats", "row")
    op.drop_column("seats", "zone_id")
    op.drop_table("schedule_classes")
    op.drop_table("venue_seats")
    op.drop_index("ix_zones_schedule_id", table_name="zones")
    op.drop_index("ix_zones_venue_id_ordinal", table_name="zones")
    op.drop_table("zones")
    op.drop_constraint(op.f("fk_schedules_venue_id_venues"), "schedules", type_="foreignkey")
    op.drop_column("schedules", "venue_id")
    op.drop_table("venues")
