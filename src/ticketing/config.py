"""Every knob of the service, read once from the environment.

Settings use the ``TICKETING_`` prefix, except ``DATABASE_URL`` and ``REDIS_URL`` which keep the
names every platform already sets. ``TICKETING_ENV`` is ``production`` unless set: ``make run``
and the test, bench and chaos harnesses set ``local``. In local mode a random signing secret is
generated and kept in the data folder; outside it the service refuses to start with a missing or
default secret, or with the local admin password.
"""

from __future__ import annotations

import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from limits import parse_many
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ticketing.kernel.locking import SEAT_LOCK_STRATEGIES, SeatLockStrategy

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value we refuse outside local mode
LOCAL_ADMIN_PASSWORD = "admin"  # noqa: S105 - allowed in local mode only, documented in docs/operations.md

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    # hide_input_in_errors: a refused start-up must not print the values it was given (pydantic
    # echoes them, which showed the tail of TICKETING_JWT_SECRET); every message names the setting.
    model_config = SettingsConfigDict(env_prefix="TICKETING_", extra="ignore", hide_input_in_errors=True)

    # Production unless told otherwise: a deployment that forgets the setting refuses default
    # secrets instead of running with them. ``make run`` and the test, bench and chaos harnesses
    # set ``local`` themselves.
    env: Literal["local", "production"] = "production"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=0, description="0 = one worker per core")
    # An idle kept-alive connection, or one still sending its request headers, is closed after
    # this long (devservers/serving.py).
    http_idle_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    data_dir: Path = PROJECT_ROOT / ".data"

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TICKETING_DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "TICKETING_REDIS_URL"))
    db_pool_size: int = 10
    db_pool_timeout_seconds: float = 5.0
    redis_max_connections: int = 64
    redis_timeout_seconds: float = 1.0
    lock_timeout_ms: int = 2000
    statement_timeout_ms: int = 10000
    # DATABASE_URL points at PgBouncer in transaction mode: the timeouts are set per transaction
    # instead of at connect, and no statement is prepared by name (kernel/db.py).
    db_pgbouncer: bool = False
    # No work starts and nothing commits after this; a worker stalled inside a transaction has it
    # rolled back by PostgreSQL after the same time (see kernel/deadline.py).
    request_deadline_seconds: float = Field(default=5.0, gt=0, le=300)

    jwt_secret: str = PLACEHOLDER_SECRET
    jwt_ttl_seconds: int = 3600
    # The password ``ticketing admin create-operator`` gives when it is not typed or piped in
    # (a production bootstrap from a secret store); in local mode also the demo operator's, and
    # "admin" when unset. Outside local mode it is optional, and never "admin".
    admin_password: str = ""
    # Password hashing (kernel/hashing.py): argon2 threads per process, run this many nice values
    # below the event loop (Linux), so the rest of the API comes first.
    password_hash_threads: int = Field(default=1, ge=1)
    password_hash_nice: int = Field(default=5, ge=0, le=19)

    max_charge: int = 1_000_000
    balance_cap: int = 100_000_000
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_hours: int = 24

    hold_seconds: int = 300
    max_holds_per_user: int = 4
    # Seats one hold may take at once (all or nothing, one date): Korean box offices sell up to
    # four per person. The per-fan cap above counts seats, so it must be at least this.
    max_seats_per_hold: int = Field(default=4, ge=1, le=20)
    # The box offices' "1인 N매": a fan's held (live) plus paid seats of one date never pass this;
    # refunded, cancelled and expired seats stop counting. A hold that would pass it: 409
    # TICKET_LIMIT_REACHED. Raise it to relax it; there is no "off".
    max_tickets_per_fan: int = Field(default=4, ge=1)
    # Refunds (POST /payments/{id}/refund) close this many hours before the date starts.
    refund_cutoff_hours: int = Field(default=24, ge=0, le=24 * 365)
    # Refunds one fan may make of one date's payments (each payment is one seat); the next: 409
    # REFUND_LIMIT_REACHED. Buying and refunding is otherwise a free way to hold seats for weeks.
    # 0 = fans cannot refund at all.
    max_refunds_per_fan_per_date: int = Field(default=2, ge=0)
    seat_lock_strategy: SeatLockStrategy = "redis+db"
    seat_cache_seconds: float = Field(default=0.5, ge=0, le=1.0)
    # The pages' push channel (Server-Sent Events; events/service.py, docs/live-pages.md): open
    # streams per process (beyond: 503, the page polls), a ticket's life, a stream's life (then
    # the page reconnects with a new ticket), and the keep-alive event's period.
    event_streams_max: int = Field(default=2000, ge=0)
    event_ticket_seconds: int = Field(default=30, ge=1, le=300)
    event_stream_seconds: float = Field(default=120, ge=1, le=3600)
    event_heartbeat_seconds: float = Field(default=15, gt=0, le=300)
    queue_max_active: int = 1000
    queue_admit_per_second: int = 200
    queue_active_ttl_seconds: int = 600
    # An admitted fan who has held no seat this long after admission loses the place, which goes
    # to the next rank (a fan who held keeps it for the whole active TTL, or until paying).
    queue_choice_seconds: int = Field(default=120, ge=1)
    # Admit no more fans who have not chosen yet than there are seats left for sale, so that a
    # fan's draw, not the speed of their client, decides who gets a seat (docs/waiting-room.md).
    queue_admit_by_inventory: bool = True
    queue_waiting_grace_seconds: int = 60
    queue_retain_finished_seconds: int = 600
    # How far behind Redis a process's view of a queue may be (polls and the date/seat guards
    # answer from it); docs/api.md allows 1 s for a finished token to be refused by the reads.
    queue_snapshot_seconds: float = Field(default=0.1, ge=0, le=1.0)
    run_jobs_in_server: bool = True
    # The hottest requests (queue join, seat map, a zone's seats) answered past Litestar's router
    # (edge/lane.py); off, every request takes the long way (the same answers, more CPU).
    fast_lane: bool = True

    bench_endpoints: bool = False  # mount /bench/* baselines (make bench only)
    # GET /metrics needs "Authorization: Bearer <this>" when set; unset, production serves it to
    # direct loopback clients only (ops/controllers.py), local mode to anyone.
    metrics_token: str = ""

    log_level: str = "INFO"
    log_json: bool = False

    # --- Abuse limits (docs/security.md) ------------------------------------------
    # Each limit is in the `limits` library's notation: "10/minute", several tiers joined with
    # ";" ("5/5 minutes;20/hour"), "" for none. Counted per account and per client address in
    # Redis (sliding windows, shared by every process); over a limit: 429 with Retry-After.
    rate_limits_enabled: bool = True  # the harnesses that drive hundreds of fans from 127.0.0.1 switch it off
    # Proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated); the client
    # is then the right-most address in it that is not one of them. Empty: the socket peer.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_sign_in_per_account: str = "10/minute"
    rate_limit_sign_in_per_address: str = "10/minute"
    # Back-off after failed sign-ins of one account name (unknown names alike) from one client
    # address: each tier reached refuses further attempts of that pair, without hashing, until
    # its window frees a slot, so the wait grows. Other addresses are not refused for it (a
    # guesser cannot lock the owner out); past challenge_sign_in_failures they need a solution.
    rate_limit_sign_in_failures: str = "5/5 minutes;20/hour"
    rate_limit_sign_up_per_account: str = "5/minute"
    rate_limit_sign_up_per_address: str = "20/hour"
    rate_limit_queue_join_per_account: str = "30/minute"
    rate_limit_queue_join_per_address: str = "300/minute"
    rate_limit_hold_per_account: str = "60/minute"
    rate_limit_hold_per_address: str = "600/minute"
    # Wallet charges (each a ledger row), per account only: a fan tops up a few times before a sale.
    rate_limit_charge_per_account: str = "10/minute;100/hour"
    # Sign-ins and sign-ups waiting for a hashing thread, per process; beyond it: 503 at once.
    password_hash_queue: int = Field(default=16, ge=0)
    # Password checks (sign-in, sign-up, password change) of one client address in progress at
    # once, per process; one more: 429 at once. Off (like every limit) with rate_limits_enabled.
    password_hash_per_address: int = Field(default=2, ge=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
        return value

    @field_validator(
        "rate_limit_sign_in_per_account",
        "rate_limit_sign_in_per_address",
        "rate_limit_sign_in_failures",
        "rate_limit_sign_up_per_account",
        "rate_limit_sign_up_per_address",
        "rate_limit_queue_join_per_account",
        "rate_limit_queue_join_per_address",
        "rate_limit_hold_per_account",
        "rate_limit_hold_per_address",
        "rate_limit_charge_per_account",
        "challenge_sign_in_failures",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        if value.strip():
            parse_many(value)  # a typo refuses start-up instead of disabling a limit
        return value

    # --- The proof-of-work gate (docs/security.md) ------------------------
    # ALTCHA challenges in front of sign-up, sign-in after failures and queue join under pressure:
    # a request without a valid solution (header X-Altcha) is answered 428 CHALLENGE_REQUIRED.
    challenge_enabled: bool = True  # the test suite, the contract checks and the harnesses turn it off
    # Difficulty: the solver tries up to this many numbers (half of them on average; ~1 s of a
    # phone at 100,000). The server's check is one SHA-256 and one HMAC whatever the difficulty.
    challenge_max_number: int = Field(default=100_000, ge=1, le=10_000_000)
    challenge_ttl_seconds: int = Field(default=300, ge=10, le=3600)  # a challenge's life (and its single use)
    # Queue join needs a solution once this many fans wait in the concert's queue (0 = always).
    challenge_join_waiting: int = Field(default=1000, ge=0)
    # Failed sign-ins, of one name or from one address, after which sign-in from an address that
    # never signed in to that account needs a solution (past it: 428, not a refusal).
    challenge_sign_in_failures: str = "3/15 minutes"
    # How long an address that signed in to an account (or signed it up) stays known to it.
    sign_in_known_address_days: int = Field(default=30, ge=1, le=365)

    # Anti-hoarding: live holds of one schedule from one client address, whatever the
    # accounts behind it; 0 = off. 8 lets a family or an office behind one NAT buy together.
    max_holds_per_address: int = Field(default=8, ge=0)

    @field_validator("seat_lock_strategy", mode="before")
    @classmethod
    def _known_strategy(cls, value: object) -> object:
        # Named here rather than left to the Literal's error: the study's other strategies were
        # once settable, and whoever sets one should learn where they went.
        if value not in SEAT_LOCK_STRATEGIES:
            raise ValueError(
                f"TICKETING_SEAT_LOCK_STRATEGY={value!s} is not a lock strategy of the service: "
                f"one of {', '.join(SEAT_LOCK_STRATEGIES)} (the lock study's others are measured "
                "figures in docs/locking.md, no longer code)"
            )
        return value

    @model_validator(mode="after")
    def _refuse_defaults_outside_local(self) -> Settings:
        if self.env == "local":
            if self.jwt_secret == PLACEHOLDER_SECRET:
                self.jwt_secret = _local_secret(self.data_dir)
            self.admin_password = self.admin_password or LOCAL_ADMIN_PASSWORD
            return self
        if self.jwt_secret == PLACEHOLDER_SECRET or len(self.jwt_secret) < 32:
            raise ValueError(
                "TICKETING_JWT_SECRET must be set to 32+ random characters outside local mode "
                "(TICKETING_ENV is production unless set; a local run: TICKETING_ENV=local, as make run sets)"
            )
        if self.admin_password == LOCAL_ADMIN_PASSWORD:
            raise ValueError("TICKETING_ADMIN_PASSWORD must not be the local default outside local mode")
        if not self.database_url or not self.redis_url:
            raise ValueError("DATABASE_URL and REDIS_URL are required outside local mode")
        return self

    def secret_values(self) -> list[str]:
        """What must never be logged (kernel/logs.py blanks it out of every line): the passwords of
        DATABASE_URL and REDIS_URL (as written and decoded), the signing secret, the admin
        password and the metrics token."""
        values = [self.jwt_secret, self.admin_password, self.metrics_token]
        for url in (self.database_url, self.redis_url):
            password = urlsplit(url).password if url else None
            if password:
                values += [password, unquote(password)]
        return [value for value in values if value and value != LOCAL_ADMIN_PASSWORD]

    @property
    def database_dsn(self) -> str:
        """The URL in the form asyncpg wants."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (the launcher sets it for embedded runs)")
        return to_plain_url(self.database_url)


def to_plain_url(url: str) -> str:
    """``postgresql://…`` for asyncpg; SQLAlchemy's ``postgresql+asyncpg://`` is accepted too."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    # Not the URL, nor a part of it: it may carry the database password.
    raise ValueError("DATABASE_URL: unsupported scheme (expected postgresql://)")


def to_asyncpg_url(url: str) -> str:
    """The form SQLAlchemy's asyncpg dialect wants (Alembic's migrations)."""
    return "postgresql+asyncpg://" + to_plain_url(url).removeprefix("postgresql://")


def _local_secret(data_dir: Path) -> str:
    """One random secret per checkout, shared by every worker and CLI command of a local run."""
    path = data_dir / "jwt-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_urlsafe(48)
        try:
            with path.open("x") as fh:  # exclusive create: concurrent starters agree on one value
                fh.write(candidate)
            path.chmod(0o600)
        except FileExistsError:
            pass
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
