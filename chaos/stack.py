"""Everything the harness starts and owns: PostgreSQL and Valkey (embedded, in a temporary folder,
on free ports), a faulty proxy in front of each, and the service as in production
(``ticketing serve`` with granian workers, plus a separate ``ticketing worker``).

Every service process carries ``CHAOS_RUN_ID`` in its environment (granian's workers inherit
it) and every server runs from the run's temporary folder, so that a scan of the machine's
processes finds whatever this run left behind, even a worker whose parent was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from chaos.proxy import FaultyProxy
from ticketing.devservers.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

HOST = "127.0.0.1"
MARKER = "CHAOS_RUN_ID"
STOP_GRACE_SECONDS = 15.0


class Stack:
    def __init__(self, work_dir: Path, service_settings: dict[str, str]) -> None:
        self.work_dir = work_dir
        self.run_id = secrets.token_hex(8)
        self.postgres = EmbeddedPostgres(work_dir / "postgres", durable=True)
        self.redis = EmbeddedRedis(work_dir / "valkey")
        self.pg_proxy: FaultyProxy | None = None
        self.redis_proxy: FaultyProxy | None = None
        self.service_data = work_dir / "service"
        self.logs = work_dir / "logs"
        self.port = free_port()
        self.service_settings = service_settings
        self.serve: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._closed = False

    # --- the servers behind the proxies -------------------------------------------------------

    def start_servers(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.service_data.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.redis.start()

    @property
    def direct_database_url(self) -> str:
        """The harness's own way in (fixtures, invariants): never through a proxy."""
        return self.postgres.url

    @property
    def direct_redis_url(self) -> str:
        return self.redis.url

    async def start_proxies(self) -> None:
        self.pg_proxy = FaultyProxy("postgres", self.postgres.port)
        self.redis_proxy = FaultyProxy("redis", self.redis.port)
        await self.pg_proxy.start()
        await self.redis_proxy.start()

    @property
    def proxies(self) -> list[FaultyProxy]:
        return [p for p in (self.pg_proxy, self.redis_proxy) if p is not None]

    def crash_postgres(self) -> None:
        """SIGQUIT to the postmaster is PostgreSQL's immediate shutdown, exactly what
        ``pg_ctl stop -m immediate`` sends (pg_ctl itself refuses to run as root): every backend
        quits at once without a checkpoint, and the next start replays the WAL."""
        process = self.postgres.process
        if process is None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        self.postgres.process = None

    def restart_postgres(self) -> None:
        self.postgres.start()

    def kill_redis(self) -> None:
        """SIGKILL, then delete whatever Valkey keeps in its folder: it comes back empty."""
        process = self.redis.process
        if process is not None:
            process.kill()
            process.wait(10)
        self.redis.process = None
        for path in self.redis.data_dir.iterdir():
            if path.suffix in (".rdb", ".aof") or path.name.startswith("appendonly"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def restart_redis(self) -> None:
        self.redis.start()

    # --- the service --------------------------------------------------------------------------

    def service_env(self) -> dict[str, str]:
        assert self.pg_proxy is not None and self.redis_proxy is not None
        env = {
            **os.environ,
            MARKER: self.run_id,
            "DATABASE_URL": f"postgresql://postgres@{HOST}:{self.pg_proxy.port}/ticketing",
            "REDIS_URL": f"redis://{HOST}:{self.redis_proxy.port}/0",
            "TICKETING_ENV": "local",
            "TICKETING_DATA_DIR": str(self.service_data),  # shares the signing secret with the harness
            "TICKETING_HOST": HOST,
            "TICKETING_PORT": str(self.port),
            "TICKETING_WORKERS": "2",
            "TICKETING_RUN_JOBS_IN_SERVER": "false",
            "TICKETING_LOG_LEVEL": "WARNING",
        }
        env.update(self.service_settings)
        return env

    def launch_service(self) -> None:
        """Start ``serve`` and ``worker`` without waiting: during a restart the load goes on."""
        env = self.service_env()
        self.serve = self._spawn("serve", env)
        self.worker = self._spawn("worker", env)

    def _spawn(self, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{command}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "ticketing.cli", command],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the harness alone
            )

    async def wait_ready(self, limit: float = 60.0) -> float:
        """Seconds until ``/readyz`` answers 200 (the service reaches both servers)."""
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.port}", timeout=2.0) as client:
            while time.monotonic() - started < limit:
                if self.serve is not None and self.serve.poll() is not None:
                    raise RuntimeError(f"ticketing serve exited with {self.serve.returncode}; see serve.log")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return time.monotonic() - started
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the service was not ready within {limit:.0f} s")

    def granian_workers(self) -> list[psutil.Process]:
        """The worker processes of ``serve`` (granian's children that run our app)."""
        if self.serve is None:
            return []
        try:
            children = psutil.Process(self.serve.pid).children(recursive=True)
        except psutil.Error:
            return []
        return [c for c in children if _alive(c) and _is_service_process(c, self.run_id)]

    def service_processes(self) -> list[psutil.Process]:
        """Every live process of this run's service, wherever it is in the process tree."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid != os.getpid() and _alive(proc) and _is_service_process(proc, self.run_id):
                found.append(proc)
        return found

    def expected_service_pids(self) -> set[int]:
        pids = {p.pid for p in (self.serve, self.worker) if p is not None and p.poll() is None}
        if self.serve is not None:
            with contextlib.suppress(psutil.Error):
                pids |= {c.pid for c in psutil.Process(self.serve.pid).children(recursive=True)}
        return pids

    def orphans(self) -> list[psutil.Process]:
        """Service processes outside the current serve tree and worker: left behind."""
        expected = self.expected_service_pids()
        return [p for p in self.service_processes() if p.pid not in expected]

    async def kill_service(self) -> int:
        """SIGKILL every process of the service at once (serve, its workers, the worker)."""
        victims = await asyncio.to_thread(self.service_processes)  # a scan of /proc: off the loop
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        await asyncio.to_thread(self._reap, victims)
        return len(victims)

    async def stop_service(self) -> list[psutil.Process]:
        """SIGTERM to serve and to the worker, as a supervisor stops them; returns the service
        processes still alive after the grace period (a defect), which are then killed.

        Async on purpose: the processes shut down through the proxies, which run on this
        event loop; blocking it here would hang their shutdown and blame the service."""
        for popen in (self.serve, self.worker):
            if popen is not None and popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        for _ in range(int(STOP_GRACE_SECONDS / 0.2)):
            if not self.service_processes():
                break
            await asyncio.sleep(0.2)
        left = self.service_processes()
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        await asyncio.to_thread(self._reap, left)
        self.serve = self.worker = None
        return left

    def _reap(self, procs: list[psutil.Process]) -> None:
        psutil.wait_procs(procs, timeout=10)
        for popen in (self.serve, self.worker):
            if popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(5)

    # --- the end --------------------------------------------------------------------------------

    def leftovers(self) -> list[psutil.Process]:
        """Any process of this run still alive: the service's, or a server run from our folder."""
        folder = str(self.work_dir)
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == os.getpid() or not _alive(proc):
                continue
            try:
                mine = _is_service_process(proc, self.run_id) or any(folder in arg for arg in proc.cmdline())
            except psutil.Error:
                continue
            if mine:
                found.append(proc)
        return found

    def keep_logs(self, dest: Path) -> None:
        """Copy the service's and the servers' logs out of the temporary folder: the evidence
        behind a FAIL (tracebacks of 500s, the servers' view of a crash)."""
        dest.mkdir(parents=True, exist_ok=True)
        sources = [
            *self.logs.glob("*.log"),
            self.postgres.data_dir / "postgres.log",
            self.redis.data_dir / "valkey.log",
        ]
        for source in sources:
            if source.exists():
                shutil.copyfile(source, dest / source.name)

    def close(self) -> None:
        """Stop everything, whatever state the run is in; safe to call twice. The folder stays
        (its logs are copied out first), ``discard`` removes it."""
        if self._closed:
            return
        self._closed = True
        for popen in (self.serve, self.worker):  # normally stopped already, by stop_service
            if popen is not None and popen.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(popen.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.redis.stop()
        with contextlib.suppress(Exception):
            if self.postgres.process is None:
                self.postgres.stop_stale()  # a postmaster started by restart_postgres, or none
            self.postgres.stop()
        for proc in self.leftovers():
            with contextlib.suppress(psutil.Error):
                proc.kill()

    def discard(self) -> None:
        """Remove the temporary folder (after ``close`` and ``keep_logs``)."""
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _is_service_process(proc: psutil.Process, run_id: str) -> bool:
    try:
        return bool(proc.environ().get(MARKER) == run_id)
    except psutil.Error:
        return False
