"""SQL fragments over the ``reservations`` table, exported by its owner (this domain) for the
one-statement payment (``payments/repository.py``). Plain strings; every value is a bound ``$n``
parameter or a column of a CTE the caller names."""


def live_holds_for_update(ids: str, user: str, schedules: str) -> str:
    """The caller's live HELD holds whose id matches ``ids`` (``= $1`` for one, ``= ANY($1)`` for
    several: the one-id form is a primary-key lookup in the prepared statement's generic plan too)
    among ``schedules`` (a subquery of schedule ids), X-locked in ascending id order: a racing payer
    or the expiry sweeper waits, then finds them no longer HELD. Columns: id, seat_id, schedule_id,
    price, seat_number."""
    return (
        "SELECT reservations.id, reservations.seat_id, reservations.schedule_id, reservations.price, "
        "reservations.seat_number "
        f"FROM reservations WHERE reservations.id {ids} AND reservations.user_id = {user} "
        f"AND reservations.schedule_id IN ({schedules}) "
        "AND reservations.status = 'HELD' AND reservations.held_until > now() "
        "ORDER BY reservations.id FOR UPDATE"
    )


def confirm(ids: str, after: str) -> str:
    """Mark the reservations whose id matches ``ids`` CONFIRMED, only when ``after`` (a CTE) has a
    row (the caller's proof that every one of them is payable). Columns: id, seat_id, price."""
    return (
        "UPDATE reservations SET status = 'CONFIRMED', updated_at = now() "
        f"FROM {after} WHERE reservations.id {ids} "
        "RETURNING reservations.id, reservations.seat_id, reservations.price"
    )
