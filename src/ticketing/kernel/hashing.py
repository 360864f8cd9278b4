"""Where password hashes run: a few low-priority threads, shared fairly among client addresses.

A password check (argon2id, ``kernel/security.py``) is ~20 ms of one core, and whoever sends the most
sign-ins would get the most of them: 64 connections guessing passwords from a few addresses used
to fill the hashing queue, so that real fans got 503 and the hashes ate both cores (the queue poll
fell from 1,017 to 77 req/s in `make bench`). Per process, then:

- **A share per address**: at most ``per_address`` password checks of one client address are in
  progress at once (sign-in, sign-up, password change, from their first step to their hash); one
  more answers 429 ``RATE_LIMITED`` with ``Retry-After: 1`` at once, before any other work.
- **Fair order**: waiting hashes are queued per address and taken round-robin, one per address in
  turn, so a fan waits for one hash of each other address with work queued, not for all of them.
- **Two lanes**: an address that sent a wrong password in the last ``SUSPECT_SECONDS`` waits in
  the slow lane (its hashes already waiting move there too), taken only when the fast lane is
  empty, and so does an address's second waiting hash; when the waiting room is full, a newcomer
  of the fast lane takes the place of the newest job of the slow lane's busiest address (that
  caller gets the 503). Guessing passwords is failing them: a flood from a few addresses cannot
  delay the fans who type theirs right, whatever the number of its connections. What it cannot
  tell apart is the first guess of a fresh address from a fan's sign-in: a botnet of many fresh
  addresses costs one fast turn per address and process (`make bench`: 64 addresses made a few
  fans wait over a second or get the 503 for a few seconds; the per-address rate limit then ends
  it).
- **The owner first**: a sign-in from an address that signed in to that account before
  (``kernel/ratelimit.py``) waits in a lane of its own, taken before the others, and when the waiting
  room is full it takes the place of the newest hash of the slow lane's, else the fast lane's,
  busiest address: 64 fresh addresses guessing at once no longer make the owner's sign-in a 503.
- **A bounded waiting room** (``queue``): beyond it, 503 ``SERVICE_UNAVAILABLE`` with
  ``Retry-After: 1`` at once, instead of queueing for seconds.
- **Low priority**: ``threads`` hashing threads (one by default: the service runs one process per
  core) at ``nice`` steps below the event loop (Linux keeps a nice value per thread), so the rest
  of the API takes a busy core first and the hashes use what is left. Measured on the 2-core
  machine with two processes each running a busy loop beside a hashing thread: the loops kept 43 %
  of their speed at nice 0, 80 % at nice 5 and 96 % at nice 10, the hashes got 32, 23 and 10 per
  second. Nice 10 starved the fans themselves whenever the API was saturated (`make bench`, sign-in
  flood: sign-in p50 0.3-0.7 s with no attack at all); nice 5 (the default) kept their p99 under
  0.5 s there. The CPU a hash costs is the same at any nice: the priority only decides who waits
  when both want the core. A fixed budget of hashes per second would waste the idle CPU of a quiet
  machine at the moment a sale opens and thousands of fans sign in; a low priority spends all of
  it and yields to the API.

The queue's state is kept per event loop (a server process runs one) and touched on that loop
only; a hash finishing on its thread hands its result back there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ticketing.kernel.errors import AddressRateLimited, ServiceUnavailable

_T = TypeVar("_T")

RETRY_AFTER = "1"
SUSPECT_SECONDS = 600.0  # how long a wrong password keeps its address in the slow lane
_SUSPECTS_MAX = 100_000  # addresses remembered (the oldest half is forgotten when full)
LOCAL = "(in-process)"  # the "address" of in-process callers (CLI commands, demo data, bench set-up)


def _lower_priority(steps: int) -> None:
    """Run the calling thread ``steps`` nice values below its process (Linux: a thread's nice is
    its own; elsewhere the call would apply to a whole process, so it is not made)."""
    if steps <= 0 or sys.platform != "linux":
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # not allowed here: run at the process's priority
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + steps))


@dataclass(eq=False)
class _Job:
    address: str
    work: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    suspect: bool
    wrong: Callable[[Any], bool] | None  # tells from the result that the password was wrong
    started: bool = False
    known: bool = False  # a sign-in from an address that signed in to that account before


@dataclass
class _Lane:
    """Waiting jobs by address; the address at the front gives one job, then goes to the back."""

    jobs: OrderedDict[str, deque[_Job]] = field(default_factory=OrderedDict)

    def push(self, job: _Job) -> None:
        self.jobs.setdefault(job.address, deque()).append(job)

    def pop(self) -> _Job | None:
        if not self.jobs:
            return None
        address, queued = next(iter(self.jobs.items()))
        job = queued.popleft()
        if queued:
            self.jobs.move_to_end(address)
        else:
            del self.jobs[address]
        return job

    def remove(self, job: _Job) -> bool:
        queued = self.jobs.get(job.address)
        if queued is None or job not in queued:
            return False
        queued.remove(job)
        if not queued:
            del self.jobs[job.address]
        return True

    def take_all(self, address: str) -> deque[_Job]:
        return self.jobs.pop(address, deque())

    def newest_of_busiest(self) -> _Job | None:
        if not self.jobs:
            return None
        busiest = max(self.jobs.values(), key=len)
        return busiest[-1]


@dataclass
class _LoopState:
    """The queue as one event loop sees it (a server process has one; a test run has one per test)."""

    running: int = 0
    waiting: int = 0
    known: _Lane = field(default_factory=_Lane)  # sign-ins from the account's known addresses
    fast: _Lane = field(default_factory=_Lane)
    slow: _Lane = field(default_factory=_Lane)
    in_progress: dict[str, int] = field(default_factory=dict)  # password checks under way per address
    wrong_at: dict[str, float] = field(default_factory=dict)  # address -> monotonic time of its last wrong password


class HashingQueue:
    """One per process (``password_checks`` below), configured at start-up from the settings."""

    def __init__(self, threads: int = 1, queue: int = 16, per_address: int = 2, nice: int = 5) -> None:
        self.threads, self.queue, self.per_address, self.nice = threads, queue, per_address, nice
        self._executor: ThreadPoolExecutor | None = None
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    def configure(self, *, threads: int, queue: int, per_address: int, nice: int) -> None:
        """``per_address`` 0: no share. New threads take ``threads`` and ``nice`` (a running hash
        finishes on its old thread)."""
        threads = max(1, threads)
        if (threads, nice) != (self.threads, self.nice) and self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self.threads, self.queue, self.per_address, self.nice = threads, max(0, queue), max(0, per_address), nice

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        return state

    # --- the share of an address ------------------------------------------------------------

    @contextlib.contextmanager
    def share(self, address: str) -> Iterator[None]:
        """Hold one of ``address``'s places for a whole password check; 429 when it has none left."""
        in_progress = self._state().in_progress
        held = in_progress.get(address, 0)
        if self.per_address and held >= self.per_address:
            raise AddressRateLimited(
                "Too many sign-ins from this address at once; try again shortly",
                headers={"Retry-After": RETRY_AFTER},
            )
        in_progress[address] = held + 1
        try:
            yield
        finally:
            left = in_progress[address] - 1
            if left:
                in_progress[address] = left
            else:
                del in_progress[address]

    def wrong_password(self, address: str) -> None:
        """``address`` sent a wrong password (or an unknown name): its next hashes wait in the slow lane."""
        state = self._state()
        wrong_at = state.wrong_at
        if len(wrong_at) >= _SUSPECTS_MAX:
            for stale in list(wrong_at)[: _SUSPECTS_MAX // 2]:
                del wrong_at[stale]
        wrong_at.pop(address, None)  # re-inserted last: the dict stays ordered oldest first
        wrong_at[address] = time.monotonic()
        # Its hashes already waiting in the fast lane move to the slow one (a burst of guesses
        # queued before the first of them failed).
        for job in state.fast.take_all(address):
            job.suspect = True
            state.slow.push(job)

    def is_suspect(self, address: str) -> bool:
        last = self._state().wrong_at.get(address)
        return last is not None and time.monotonic() - last < SUSPECT_SECONDS

    # --- queueing and running ---------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(hashes running, hashes waiting) of the calling event loop."""
        state = self._state()
        return state.running, state.waiting

    async def run(
        self, address: str, work: Callable[[], _T], wrong: Callable[[_T], bool] | None = None, *, known: bool = False
    ) -> _T:
        """``work()`` on a hashing thread, in its turn; 503 at once when the waiting room is full.
        ``wrong(result)``: the password was wrong, so ``address`` goes to the slow lane, before the
        next hash is chosen. ``known``: a sign-in from an address that signed in to that account
        before (``kernel/ratelimit.py``): it waits in the first lane, ahead of every fresh address,
        and takes the place of a fresh address's hash when the waiting room is full."""
        state, loop = self._state(), asyncio.get_running_loop()
        job = _Job(address, work, loop.create_future(), loop, self.is_suspect(address), wrong, known=known)
        if state.running < self.threads:
            self._start(state, job)
        else:
            self._enqueue(state, job)
        try:
            result: _T = await job.future
        except asyncio.CancelledError:
            # The caller is gone (a client that hung up): a job not started yet leaves the queue;
            # a started one finishes on its thread and keeps its place until then.
            if not job.started and (state.known.remove(job) or state.fast.remove(job) or state.slow.remove(job)):
                state.waiting -= 1
            raise
        return result

    def _enqueue(self, state: _LoopState, job: _Job) -> None:
        # One waiting hash per address in the fast lane: a second one (a burst) waits in the slow
        # lane, so that fresh addresses guessing in bursts cost the fans one turn each, not two.
        job.suspect = job.suspect or job.address in state.fast.jobs
        if state.waiting >= self.queue:
            if job.known:  # the owner's sign-in goes before any fresh address's guess
                bumped = state.slow.newest_of_busiest() or state.fast.newest_of_busiest()
            else:
                bumped = None if job.suspect else state.slow.newest_of_busiest()
            if bumped is None:
                raise ServiceUnavailable(
                    "Too many sign-ins at once; try again shortly", headers={"Retry-After": RETRY_AFTER}
                )
            if not state.slow.remove(bumped):
                state.fast.remove(bumped)
            state.waiting -= 1
            if not bumped.future.done():  # its caller may have just gone
                bumped.future.set_exception(
                    ServiceUnavailable(
                        "Too many sign-ins at once; try again shortly", headers={"Retry-After": RETRY_AFTER}
                    )
                )
        (state.known if job.known else state.slow if job.suspect else state.fast).push(job)
        state.waiting += 1

    def _start(self, state: _LoopState, job: _Job) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.threads,
                thread_name_prefix="argon2",
                initializer=_lower_priority,
                initargs=(self.nice,),
            )
        job.started = True
        state.running += 1
        done = self._executor.submit(job.work)
        done.add_done_callback(lambda finished: self._hand_back(state, job, finished))

    def _hand_back(self, state: _LoopState, job: _Job, finished: Future[Any]) -> None:
        """On the hashing thread: the rest happens on the job's event loop."""
        with contextlib.suppress(RuntimeError):  # that loop closed meanwhile: nothing is left to tell
            job.loop.call_soon_threadsafe(self._finished, state, job, finished)

    def _finished(self, state: _LoopState, job: _Job, finished: Future[Any]) -> None:
        state.running -= 1
        error = finished.exception()
        if error is None and job.wrong is not None and job.wrong(finished.result()):
            self.wrong_password(job.address)
        if not job.future.done():  # not cancelled by its caller
            if error is None:
                job.future.set_result(finished.result())
            else:
                job.future.set_exception(error)
        while state.running < self.threads:
            following = state.known.pop() or state.fast.pop() or state.slow.pop()
            if following is None:
                break
            state.waiting -= 1
            if not following.future.done():  # its caller is gone: no hash for nobody
                self._start(state, following)


password_checks = HashingQueue()
