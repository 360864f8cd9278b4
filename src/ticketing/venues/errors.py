from ticketing.kernel.errors import NotFound, ValidationError


class InvalidSeatingPlan(ValidationError):
    code = "INVALID_SEATING_PLAN"
    title = "The seating plan is not valid"


class VenueNotFound(NotFound):
    code = "VENUE_NOT_FOUND"
    title = "Venue not found"


class ZoneNotFound(NotFound):
    code = "ZONE_NOT_FOUND"
    title = "Zone not found"
