from ticketing.kernel.errors import Conflict, Forbidden, NotFound


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"
    title = "Payment not found"


class PaymentUserMismatch(Forbidden):
    code = "PAYMENT_USER_MISMATCH"
    title = "This payment was made by another fan"


class PaymentAlreadyRefunded(Conflict):
    code = "PAYMENT_ALREADY_REFUNDED"
    title = "This payment was already refunded"


class RefundWindowClosed(Conflict):
    """Carries ``refunds_closed_at``: when refunds of the date closed."""

    code = "REFUND_WINDOW_CLOSED"
    title = "Refunds of this date are closed"


class RefundLimitReached(Conflict):
    """The fan already refunded TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE payments of this date."""

    code = "REFUND_LIMIT_REACHED"
    title = "You already refunded the most payments of this date one fan may refund"
