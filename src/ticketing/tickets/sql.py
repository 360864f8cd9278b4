"""SQL fragments over the ``tickets`` table, exported by its owner (this domain) for the
one-statement payment (``payments/repository.py``): a payment and its ticket are written by one
statement, so a paid reservation always has its ticket. Plain strings; every value is a bound
``$n`` parameter or a column of a CTE the caller names.

Codes are made by PostgreSQL, in that statement: ``gen_random_uuid()`` (built in since
PostgreSQL 13; pgcrypto's ``gen_random_bytes`` is not installed everywhere this runs, the
embedded server included) draws a version 4 UUID from ``pg_strong_random`` — the operating
system's or OpenSSL's cryptographic generator, as Python's ``secrets`` — so 122 of the code's 128
bits are random (at least 96 are required). Written as 32 upper-case hex digits: QR codes
encode them in alphanumeric mode (a smaller code than bytes), and a door can type one in.
"""

NEW_CODE = "upper(replace(gen_random_uuid()::text, '-', ''))"


def issue_for(payments: str, reservations: str, concert: str) -> str:
    """One VALID ticket for each row of ``payments`` (a CTE: id, reservation_id, user_id), its
    date and seat taken from its row of ``reservations`` (a CTE: id, schedule_id, seat_id,
    seat_number); ``concert`` is a ``$n`` parameter. UNIQUE per payment and per code. Columns: id."""
    return (
        "INSERT INTO tickets "
        "(payment_id, reservation_id, user_id, concert_id, schedule_id, seat_id, seat_number, code) "
        f"SELECT {payments}.id, {payments}.reservation_id, {payments}.user_id, {concert}, {reservations}.schedule_id, "
        f"{reservations}.seat_id, {reservations}.seat_number, {NEW_CODE} "
        f"FROM {payments} JOIN {reservations} ON {reservations}.id = {payments}.reservation_id "
        f"ORDER BY {payments}.id RETURNING id"
    )
