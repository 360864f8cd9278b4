"""The Redis client: one Redis / Valkey server, or a Redis Cluster, chosen by ``REDIS_URL``.

- ``redis://host:6379/0`` (``rediss://`` for TLS): one server, any database number.
- ``redis+cluster://host:6379`` (``rediss+cluster://`` for TLS): a Redis Cluster. The host is any
  one node; the client reads the slot map from it (``CLUSTER SLOTS``) and sends each command to
  the node that owns its key. Only database 0 exists in a cluster (no path, or ``/0``). User,
  password and query options are those of ``redis://`` URLs: the scheme is the only difference.

Both clients keep the same bounds. At most ``TICKETING_REDIS_MAX_CONNECTIONS`` calls are in flight
per process; a call that finds them all busy waits at most ``TICKETING_REDIS_TIMEOUT_SECONDS``
for a turn instead of failing under load (single node: a ``BlockingConnectionPool``; cluster:
redis-py keeps a pool per node that fails at once when full, so :class:`BoundedRedisCluster` queues
the calls in front of it). Connecting and every reply are bounded by the same timeout, so a slow
or dead Redis is a 503 (see ``translate_redis_errors``) within a bounded time instead of a hang.

**Auto-pipelining (one server).** The commands that a process's requests send in the same turn of
the event loop go to Redis together, as one pipeline: one connection checkout, one write, one
read loop, and one read on the server's side (:class:`AutoPipelinedRedis`, what ioredis calls
auto-pipelining). A round trip through redis-py costs ~140 us of CPU per command alone and ~40
when it shares the trip (64 callers at once; one process); a write of the API makes one to three
of them (a hold: its two rate-limit counters and the queue-token check), so under load this is
the difference between the CPU going to Redis plumbing and going to requests. Each command keeps
its own answer and its own error; nothing waits for a batch that is not its own. The `limits`
storage of the rate limits shares the client (``kernel/ratelimit.py``).

A call that fails with a *connection* error is sent once more, on a new connection: after Redis
restarts, every pooled connection is dead, and without that retry each of them would fail one
request (a trail of stray 503s for minutes after the outage). A timeout is not retried (the
single-node client; redis-py's cluster client retries its own error list once, timeouts included),
so a slow Redis still answers within the bound. Every script is safe to send twice: a join
returns the fan's existing token, the other scripts set state rather than add to it. A cluster
client also follows MOVED / ASK redirections, and re-reads the slot map on the call after a
failure.

In a cluster, keys that one script or one transaction touches must share a slot: give them one
hash tag (``wr:{42}:waiting``, ``wr:{42}:active``) and pass at least one of them in ``keys=``,
which is what routes the call to the right node.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, TypeAlias

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.typing import EncodableT

from ticketing.config import Settings
from ticketing.kernel import deadline
from ticketing.kernel.coalesce import answer_each
from ticketing.kernel.errors import ServiceUnavailable

RedisClient: TypeAlias = Redis | RedisCluster
"""What the stores take: every command they use exists on both clients."""

CLUSTER_SCHEME = "redis+cluster"
_CLUSTER_SCHEMES = {f"{CLUSTER_SCHEME}://": "redis://", "rediss+cluster://": "rediss://"}


def cluster_url(url: str) -> str | None:
    """The ``redis://`` form of a ``redis+cluster://`` URL (what redis-py parses); None for others."""
    for prefix, plain in _CLUSTER_SCHEMES.items():
        if url.startswith(prefix):
            return plain + url[len(prefix) :]
    return None


def create_redis(settings: Settings) -> RedisClient:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (the launcher sets it for embedded runs)")
    timeout = settings.redis_timeout_seconds
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 0,
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis_errors.ConnectionError,)),
        "decode_responses": False,
    }
    plain = cluster_url(settings.redis_url)
    if plain is not None:
        return BoundedRedisCluster.from_url(
            plain, max_connections=settings.redis_max_connections, turn_timeout=timeout, **common
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=timeout, **common
    )
    return AutoPipelinedRedis(connection_pool=pool)


_Queued = tuple[tuple[EncodableT, ...], dict[str, Any], "asyncio.Future[Any]"]


class AutoPipelinedRedis(Redis):
    """A ``Redis`` client whose commands sent in one turn of the event loop share a round trip.

    The first command of a turn schedules a flush for the end of the turn (``call_soon``: the
    callbacks already ready run first, and every command they send joins); the flush sends the
    turn's commands as one non-transactional pipeline and hands each caller its own reply or its
    own error (a script missing from Redis' cache is one caller's ``NoScriptError``, which
    redis-py's ``Script`` answers by loading it). Batches do not wait for each other: several can
    be in flight, each on its own pooled connection, so a slow command delays only its own batch.
    A connection failure fails the whole batch (it is sent once more first, on a new connection,
    like a single command: every command the service sends is safe to send twice). A caller
    cancelled meanwhile does not take its command back: like a statement already sent, it runs.

    Pipelines (``pipeline()``), and therefore transactions, are redis-py's own and unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[_Queued] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches_sent = 0  # pipelines sent and the commands in them: counted for the tests
        self.commands_sent = 0

    async def execute_command(self, *args: EncodableT, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((args, options, reply))
        return await reply

    def _flush(self) -> None:
        batch, self._queued = self._queued, []
        # Outside any request's deadline: the batch serves many callers (each keeps its own).
        task = asyncio.get_running_loop().create_task(self._send(batch), context=deadline.unbounded())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        self.batches_sent += 1
        self.commands_sent += len(batch)
        pipe = self.pipeline(transaction=False)
        for args, options, _ in batch:
            pipe.execute_command(*args, **options)
        waiters = [reply for _, _, reply in batch]
        try:
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        except BaseException as error:
            answer_each(waiters, [error] * len(waiters))
            if not isinstance(error, Exception):
                raise
            return
        answer_each(waiters, replies)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await super().aclose(close_connection_pool)


_HAS_TURN: ContextVar[bool] = ContextVar("redis_cluster_has_turn", default=False)


class BoundedRedisCluster(RedisCluster):
    """A ``RedisCluster`` whose calls wait (bounded) for one of ``max_connections`` turns.

    redis-py's asyncio cluster client raises ``MaxConnectionsError`` as soon as a node's pool is
    full. Here every command and every pipeline first takes a turn (at most ``max_connections`` at
    once per client, so no node's pool can overflow), waiting at most ``turn_timeout`` for it;
    a call made while holding a turn (redis-py re-sending a redirected pipeline command) reuses it.
    """

    def __init__(self, *args: Any, turn_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(int(kwargs.get("max_connections", 100)))
        self._turn_timeout = turn_timeout

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if _HAS_TURN.get():
            yield
            return
        try:
            async with asyncio.timeout(self._turn_timeout):
                await self._turns.acquire()
        except TimeoutError:
            raise redis_errors.ConnectionError("No Redis cluster connection available.") from None
        held = _HAS_TURN.set(True)
        try:
            yield
        finally:
            _HAS_TURN.reset(held)
            self._turns.release()

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    async def initialize(
        self,
        additional_startup_nodes_info: list[tuple[str, int]] | None = None,
        last_failed_node_name: str | None = None,
    ) -> RedisCluster:
        """Reading the slot map fails with a plain ``RedisClusterException`` when no node answers
        (or the answers do not cover every slot): a connection failure here, like any other."""
        try:
            return await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except redis_errors.RedisClusterException as error:
            raise redis_errors.ConnectionError(f"Redis Cluster unavailable: {error}") from error

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            raise redis_errors.RedisClusterException("shard_hint is deprecated in cluster mode")
        # redis-py's own ClusterPipeline is abstract to mypy (CommandsProtocol declares an
        # ``_event_dispatcher`` that pipelines never set); nothing abstract is called.
        return _BoundedClusterPipeline(self, transaction)  # type: ignore[abstract]


class _BoundedClusterPipeline(ClusterPipeline):
    cluster_client: BoundedRedisCluster

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        async with self.cluster_client.turn():
            return await super().execute(raise_on_error, allow_redirections)


REDIS_FAILURES = (
    redis_errors.ConnectionError,  # includes a cluster node pool's MaxConnectionsError
    redis_errors.TimeoutError,
    redis_errors.ClusterError,  # CLUSTERDOWN, MASTERDOWN, too many redirections
    redis_errors.SlotNotCoveredError,
    ConnectionError,
    TimeoutError,
    OSError,
)


# uvloop reports a write to a transport that the peer has just reset as a RuntimeError, not a
# ConnectionError ("unable to perform operation on <TCPTransport closed=True …>; the handler is
# closed"), and redis-py lets it through; seen while Redis connections were being reset.
_CLOSED_TRANSPORT = "the handler is closed"
_REDIS_PACKAGE = f"{os.sep}redis{os.sep}"


def _connection_torn_down(error: BaseException) -> bool:
    """redis-py's error for a connection closed under a call in flight: the cluster client, on
    CLUSTERDOWN, an uncovered slot or a MOVED storm, disconnects *every* connection of every node
    to re-read the slot map, including those other calls are writing to or reading from, which
    then fail inside redis-py on the stream it set to None (``AttributeError: 'NoneType' object
    has no attribute 'writelines'``; also ``read``, ``drain``...). Seen as 500s while cluster
    nodes started and while a master was down. Recognised by what it is, an attribute of None
    looked up in redis-py's own code, not by its message."""
    if not isinstance(error, AttributeError) or error.obj is not None:
        return False
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _REDIS_PACKAGE in tb.tb_frame.f_code.co_filename


def is_redis_failure(error: BaseException) -> bool:
    """Redis unreachable, slow or gone mid-call: a 503, never a 500."""
    return (
        isinstance(error, REDIS_FAILURES)
        or (isinstance(error, RuntimeError) and _CLOSED_TRANSPORT in str(error))
        or _connection_torn_down(error)
    )


def redis_unavailable() -> ServiceUnavailable:
    """The answer to a Redis failure: 503 with Retry-After (a blip is usually over in a second)."""
    return ServiceUnavailable("The queue store is unavailable; nothing was changed", headers={"Retry-After": "1"})


@contextmanager
def translate_redis_errors() -> Iterator[None]:
    """Used by the stores: an unreachable or slow Redis is a 503, never a 500 or a hang."""
    try:
        yield
    except Exception as error:
        if is_redis_failure(error):
            raise redis_unavailable() from error
        raise
