from ticketing.kernel.errors import Conflict, Forbidden, NotFound, ValidationError


class WalletNotFound(NotFound):
    code = "WALLET_NOT_FOUND"
    title = "Wallet not found"


class WalletUserMismatch(Forbidden):
    code = "WALLET_USER_MISMATCH"
    title = "This wallet belongs to another user"


class InvalidAmount(ValidationError):
    code = "INVALID_AMOUNT"
    title = "The amount is not valid"


class BalanceLimitExceeded(Conflict):
    code = "BALANCE_LIMIT_EXCEEDED"
    title = "The balance would exceed its limit"


class InsufficientBalance(Conflict):
    code = "INSUFFICIENT_BALANCE"
    title = "The balance is lower than the price"
