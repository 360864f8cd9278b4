"""SQL fragments over the ``seats`` table that several repositories compose (plain strings: no
SQLAlchemy at run time)."""

# Nobody holds or bought the seat — or its hold has run out (as of the transaction's now()).
# A SQL fragment over the ``seats`` table, shared by every query that asks "is it free?".
SEAT_IS_FREE = "(seats.status = 'AVAILABLE' OR (seats.status = 'HELD' AND seats.held_until <= now()))"

# The seats of the ``schedules`` row of the enclosing query, for a ``CROSS JOIN LATERAL``: the
# concert's seats are then read schedule by schedule through the (schedule_id, number) index.
# A plain join of schedules and seats leaves PostgreSQL free to scan every seat of every
# concert (it does, with a prepared statement's generic plan), which grows with history.
SEATS_OF_SCHEDULE = "FROM seats WHERE seats.schedule_id = schedules.id"
