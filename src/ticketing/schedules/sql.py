"""SQL fragments over the ``seats`` and ``schedules`` tables, exported by their owner (this
domain) for the statements of other domains that must read or write a seat in the same
statement: the one-statement payment. Plain strings (no SQLAlchemy at run time); every value
they mention is a bound ``$n`` parameter or a column of a CTE the caller names."""

# Nobody holds or bought the seat — or its hold has run out (as of the transaction's now()).
# A SQL fragment over the ``seats`` table, shared by every query that asks "is it free?".
SEAT_IS_FREE = "(seats.status = 'AVAILABLE' OR (seats.status = 'HELD' AND seats.held_until <= now()))"

# A hash of the seat's id when it is free, else NULL: XORed over a zone's seats (with their count)
# it changes whenever a seat of the zone is taken or freed — how the seat map finds the zones to
# read again (schedules/seat_map.py). 64 bits: two different sets of free seats agreeing is a
# chance of about 2^-64 per comparison.
FREE_SEAT_HASH = f"(CASE WHEN {SEAT_IS_FREE} THEN hashint8extended(seats.id, 0) END)"

# The seats of the ``schedules`` row of the enclosing query, for a ``CROSS JOIN LATERAL``: the
# concert's seats are then read schedule by schedule through the (schedule_id, number) index.
# A plain join of schedules and seats leaves PostgreSQL free to scan every seat of every
# concert (it does, with a prepared statement's generic plan), which grows with history.
SEATS_OF_SCHEDULE = "FROM seats WHERE seats.schedule_id = schedules.id"
# Its unsold seats, for a search in id order that the partial index ``ix_seats_unsold`` answers.
UNSOLD_OF_SCHEDULE = f"{SEATS_OF_SCHEDULE} AND seats.status <> 'SOLD'"


# A ``schedules`` row whose reservation window is open as of the transaction's now().
WINDOW_OPEN = "schedules.reservation_opens_at <= now() AND now() < schedules.reservation_closes_at"


def window_open(schedule_id: str) -> str:
    """Whether the date ``schedule_id`` (a bound parameter) is open for reservation now: asked
    by the hold's transaction itself, so a date closed by any process refuses holds at once,
    whatever a process's cached copy of the date says."""
    return f"EXISTS (SELECT 1 FROM schedules WHERE schedules.id = {schedule_id} AND {WINDOW_OPEN})"


def sale_of_concert(concert: str) -> str:
    """Four columns saying where the concert's sale stands (``concert`` names its id column):
    whether it has dates at all, the next opening still to come, whether a date's window is
    open now, and whether such an open date has a seat not yet sold (the search stops at the
    first, through ``ix_seats_unsold``). ``concerts.schemas.sale_state`` reads them."""
    of_concert = f"FROM schedules WHERE schedules.concert_id = {concert}"
    open_now = WINDOW_OPEN
    return (
        f"EXISTS (SELECT 1 {of_concert}), "
        f"(SELECT min(schedules.reservation_opens_at) {of_concert} AND schedules.reservation_opens_at > now()), "
        f"EXISTS (SELECT 1 {of_concert} AND {open_now}), "
        f"EXISTS (SELECT 1 FROM schedules CROSS JOIN LATERAL (SELECT 1 {UNSOLD_OF_SCHEDULE} LIMIT 1) unsold "
        f"  WHERE schedules.concert_id = {concert} AND {open_now})"
    )


def schedules_of_concert(concert: str) -> str:
    """A subquery: the ids of the concert's schedules (``concert`` is a ``$n`` parameter)."""
    return f"SELECT schedules.id FROM schedules WHERE schedules.concert_id = {concert}"


def lock_seat_of(cte: str) -> str:
    """X-lock the seat of each row of ``cte`` (a CTE with a ``seat_id`` column), in ascending
    id order (the shared lock order of seats)."""
    return f"SELECT seats.id FROM seats JOIN {cte} ON seats.id = {cte}.seat_id ORDER BY seats.id FOR UPDATE OF seats"


def sell_seat_of(cte: str) -> str:
    """Mark the seat of each row of ``cte`` SOLD; returns the seat ids."""
    return (
        f"UPDATE seats SET status = 'SOLD', held_until = NULL, version = seats.version + 1 "
        f"FROM {cte} WHERE seats.id = {cte}.seat_id RETURNING seats.id"
    )


def all_sold_but(concert: str, seats: str) -> str:
    """True when every seat of the concert except ``seats`` (a subquery of seat ids) is sold.

    The search reads a date's unsold seats in id order through the partial index of unsold
    seats (``ix_seats_unsold``, the ``ORDER BY`` makes it PostgreSQL's choice) and stops at the
    first not being paid for: a few rows however many seats are sold. Left to itself PostgreSQL
    scanned the table for the first unsold row and, with the sold seats first on disk, walked
    past them all: O(sold seats) per payment at the end of a sale."""
    return (
        "NOT EXISTS (SELECT 1 FROM schedules CROSS JOIN LATERAL ("
        f"SELECT 1 {UNSOLD_OF_SCHEDULE} AND seats.id NOT IN ({seats}) "
        "ORDER BY seats.schedule_id, seats.id LIMIT 1) unsold "
        f"WHERE schedules.concert_id = {concert})"
    )
