"""What the fans saw, recorded answer by answer, and the pure rules that judge it.

Kept free of I/O so that the rules (what counts as a definitive answer, when two answers to one
Idempotency-Key agree) are unit-tested on their own: a failure the harness reports must be the
service's, never an artefact of how the harness reads answers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

NETWORK = 0  # no HTTP answer: refused, reset, closed mid-answer
HUNG = -1  # no answer within the client's timeout

# Answers after which a client retries the same request (same Idempotency-Key): nothing was
# decided yet. 409 IDEMPOTENCY_KEY_IN_USE means "the first request with this key is still
# running", so it is not an answer to compare either.
RETRYABLE_CODES = frozenset({"IDEMPOTENCY_KEY_IN_USE", "RATE_LIMITED"})
# docs/api.md: paying an expired hold is RESERVATION_EXPIRED until the sweeper releases it, then
# RESERVATION_NOT_HELD. Two answers on either side of a sweep mean the same thing.
EQUIVALENT_CODES = {"RESERVATION_EXPIRED": "RESERVATION_NOT_HELD"}


@dataclass(frozen=True, slots=True)
class Answer:
    endpoint: str
    started: float  # seconds from the phase start
    ended: float
    status: int  # HTTP status, NETWORK or HUNG
    code: str  # the problem's code; "OK" below 400; the exception's name for NETWORK; "HUNG"


def is_transient(status: int, code: str) -> bool:
    """No decision was made: the client should retry (the same key, for a payment)."""
    return status in (NETWORK, HUNG) or status >= 500 or code in RETRYABLE_CODES


def is_definitive(status: int, code: str) -> bool:
    return not is_transient(status, code)


@dataclass(frozen=True, slots=True)
class KeyAnswer:
    """A definitive answer to one payment request with an Idempotency-Key."""

    status: int
    code: str
    body: object = None  # the decoded body of a 2xx

    def normalized(self) -> tuple[object, ...]:
        if 200 <= self.status < 300:
            return (self.status, _canonical(self.body))
        return (self.status, EQUIVALENT_CODES.get(self.code, self.code))

    def describe(self) -> str:
        return f"{self.status} {self.code}" if self.status >= 300 else str(self.status)


def _canonical(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


@dataclass
class TwinGroup:
    """One fan's same-key payment sent several times at once; ``answers`` are the definitive
    final answers of the twins that got one."""

    fan_id: int
    key: str
    answers: list[KeyAnswer] = field(default_factory=list)


def twins_disagree(group: TwinGroup, tokens_may_be_lost: bool) -> bool:
    """True when two definitive answers to the same key differ.

    When the scenario loses the queue tokens (Redis restarted empty), a twin whose replay
    check ran before the first twin committed and whose token check ran after the loss is
    rightly refused with 401 TOKEN_INVALID: that pair is excused there, and only there."""
    kinds = {a.normalized() for a in group.answers}
    if len(kinds) <= 1:
        return False
    if tokens_may_be_lost:
        rest = {k for k in kinds if k != (401, "TOKEN_INVALID")}
        return len(rest) > 1
    return True


@dataclass
class PaymentTrail:
    """Every definitive answer a fan got for one payment key, in order."""

    fan_id: int
    reservation_id: int
    key: str
    answers: list[KeyAnswer] = field(default_factory=list)

    @property
    def told_paid(self) -> bool:
        return any(a.status == 201 for a in self.answers)


def told_otherwise(trail: PaymentTrail, confirmed: bool, tokens_may_be_lost: bool) -> bool:
    """The database shows the payment, but the fan's last definitive answer for its key said
    it did not happen (and no answer said it did): a retry with the key should have replayed
    the stored 201. A 401 TOKEN_INVALID is excused where the scenario loses tokens (it can
    answer a retry that raced the first request's commit)."""
    if not confirmed or trail.told_paid or not trail.answers:
        return False
    last = trail.answers[-1]
    return not (tokens_may_be_lost and last.code == "TOKEN_INVALID")


# How a fan's sale ended. Every fan must reach one before the phase's drain ends: a fan with
# none was still waiting, polling or retrying, which the report fails.
BOUGHT = "bought"  # holds at least one paid seat
REFUNDED = "refunded"  # bought, then gave every seat back
GAVE_UP = "gave up"  # the fan's own choice: walked away from a hold, or found no free seat for long
REFUSED = "refused"  # a definitive answer ended the journey; ``reason`` is the API's code
NO_END = "no end state"
NO_FREE_SEAT = "no free seat"
WALKED_AWAY = "walked away from a hold"


@dataclass(frozen=True, slots=True)
class EndState:
    kind: str  # BOUGHT, REFUNDED, GAVE_UP or REFUSED
    reason: str = ""  # REFUSED: the problem's code; GAVE_UP: why; BOUGHT: a refund refused, if any

    def label(self) -> str:
        return f"{self.kind}: {self.reason}" if self.reason else self.kind


def end_state(kind: str, reason: str, kept: int, refunded: int) -> EndState:
    """A fan's end as the table counts it: what it holds decides first (a fan who bought and
    was then refused something still bought), then what it gave back, then why it stopped."""
    if kept:
        return EndState(BOUGHT, reason if kind == REFUSED and reason.startswith("REFUND") else "")
    if refunded:
        return EndState(REFUNDED)
    return EndState(kind, reason)


def end_table(ends: dict[int, EndState], fan_ids: list[int]) -> Counter[str]:
    """How many fans ended each way; fans without an end are counted under NO_END."""
    return Counter(ends[f].label() if f in ends else NO_END for f in fan_ids)


@dataclass
class RefundTrail:
    """One refund: every definitive answer to its key, then the answer to a second refund of
    the same payment under a new key (a second click), which must be 409 PAYMENT_ALREADY_REFUNDED."""

    fan_id: int
    payment_id: int
    key: str
    answers: list[KeyAnswer] = field(default_factory=list)
    again: KeyAnswer | None = None

    @property
    def told_refunded(self) -> bool:
        return any(a.status == 200 for a in self.answers)


def refund_disagreements(trails: list[RefundTrail], refunded_in_database: set[int]) -> list[str]:
    """Refund answers the database contradicts: told refunded but not refunded; refunded but
    told otherwise (and never told it was); refunded twice (a second refund answered 200)."""
    found = []
    for trail in trails:
        refunded = trail.payment_id in refunded_in_database
        if trail.told_refunded and not refunded:
            found.append(f"fan {trail.fan_id} payment {trail.payment_id}: told refunded, not refunded")
        elif refunded and trail.answers and not trail.told_refunded:
            last = trail.answers[-1].describe()
            found.append(f"fan {trail.fan_id} payment {trail.payment_id}: refunded, told {last}")
        if trail.again is not None and trail.again.status == 200:
            found.append(f"fan {trail.fan_id} payment {trail.payment_id}: refunded twice (second key answered 200)")
    return found


@dataclass
class Journal:
    """Everything one phase's fans saw."""

    answers: list[Answer] = field(default_factory=list)
    received_reservations: set[int] = field(default_factory=set)  # ids of 201 holds
    abandoned: list[tuple[int, int, float]] = field(default_factory=list)  # (fan index, reservation id, held_until)
    trails: list[PaymentTrail] = field(default_factory=list)
    twins: list[TwinGroup] = field(default_factory=list)
    refunds: list[RefundTrail] = field(default_factory=list)
    ends: dict[int, EndState] = field(default_factory=dict)  # fan id -> how its sale ended
    last_answers: dict[int, str] = field(default_factory=dict)  # fan id -> its last answer, for the unfinished
    invalid: list[str] = field(default_factory=list)  # 400/422 answers to requests that were valid, with detail
    rejoins: int = 0
    bought: int = 0  # payments answered 201 (a fan who refunds and buys again counts twice)
    challenges_solved: int = 0

    def record(self, answer: Answer) -> None:
        self.answers.append(answer)

    def codes(self) -> Counter[tuple[int, str]]:
        return Counter((a.status, a.code) for a in self.answers)

    def first_success_after(self, endpoint: str, status: int, moment: float) -> float | None:
        """Seconds from ``moment`` to the first answer ``status`` on ``endpoint`` ending after it."""
        ends = [a.ended for a in self.answers if a.endpoint == endpoint and a.status == status and a.ended >= moment]
        return min(ends) - moment if ends else None
