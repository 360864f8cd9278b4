"""SQL fragments over the ``venue_seats`` table, exported by their owner (this domain) for the
one statement that makes a date's seats from its venue's plan (schedules/repository.py)."""


def template_seats(venue: str) -> str:
    """The venue's seats (``venue`` is a ``$n`` parameter): number, zone_id, row, label, class_name."""
    return (
        "SELECT venue_seats.number, venue_seats.zone_id, venue_seats.row, venue_seats.label, venue_seats.class_name "
        f"FROM venue_seats WHERE venue_seats.venue_id = {venue}"
    )
