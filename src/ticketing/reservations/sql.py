"""SQL fragments over the ``reservations`` table, exported by its owner (this domain) for the
one-statement payment (``payments/repository.py``). Plain strings; every value is a bound ``$n``
parameter or a column of a CTE the caller names."""


def live_holds_for_update(reservations: str, user: str, schedules: str) -> str:
    """The caller's live HELD holds among the ids ``reservations`` (a bigint[]) and ``schedules``
    (a subquery of schedule ids), X-locked in ascending id order: a racing payer or the expiry
    sweeper waits, then finds them no longer HELD. Columns: id, seat_id, schedule_id, price,
    seat_number."""
    return (
        "SELECT reservations.id, reservations.seat_id, reservations.schedule_id, reservations.price, "
        "reservations.seat_number "
        f"FROM reservations WHERE reservations.id = ANY({reservations}) AND reservations.user_id = {user} "
        f"AND reservations.schedule_id IN ({schedules}) "
        "AND reservations.status = 'HELD' AND reservations.held_until > now() "
        "ORDER BY reservations.id FOR UPDATE"
    )


def confirm(reservations: str, after: str) -> str:
    """Mark the reservations (ids of the CTE ``reservations``) CONFIRMED, only when ``after`` (a
    CTE) has a row. Columns: id, seat_id, price."""
    return (
        "UPDATE reservations SET status = 'CONFIRMED', updated_at = now() "
        f"FROM {after} WHERE reservations.id IN (SELECT id FROM {reservations}) "
        "RETURNING reservations.id, reservations.seat_id, reservations.price"
    )
