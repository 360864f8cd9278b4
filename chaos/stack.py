"""Everything the harness starts and owns: PostgreSQL and Valkey (embedded, in a temporary folder,
on free ports), a faulty proxy in front of each, and the service as in production: NODES
``ticketing serve`` processes (each with its granian workers) behind HAProxy (``balancer.py``, a
process of its own), plus a separate ``ticketing worker``. A fault that hits one node is seen by
the fans through the other, and each node's own view of the queue is tested.

Every service process carries ``CHAOS_RUN_ID`` in its environment (granian's workers inherit
it) and every server, the balancer included, runs from the run's temporary folder, so that a
scan of the machine's processes finds whatever this run left behind, even a worker whose parent
was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from chaos.balancer import haproxy_command
from chaos.proxy import ProxyProcess, RemoteProxy
from ticketing.devservers.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

HOST = "127.0.0.1"
MARKER = "CHAOS_RUN_ID"
STOP_GRACE_SECONDS = 15.0
NODES = 2  # ``ticketing serve`` processes behind the balancer
# granian workers of each: a killed or frozen worker leaves a sibling on its node, as production
# nodes run one per core; a node lost is a scenario of its own (``sell-out``).
WORKERS_PER_NODE = 2


class Stack:
    def __init__(self, work_dir: Path, service_settings: dict[str, str]) -> None:
        self.work_dir = work_dir
        self.run_id = secrets.token_hex(8)
        self.postgres = EmbeddedPostgres(work_dir / "postgres", durable=True)
        self.redis = EmbeddedRedis(work_dir / "valkey")
        self.links: ProxyProcess | None = None  # the faulty proxies, in a process of their own
        self.node_ports = [free_port() for _ in range(NODES)]
        self.balancer_port = 0
        self.balancer: subprocess.Popen[bytes] | None = None
        self.service_data = work_dir / "service"
        self.logs = work_dir / "logs"
        self.service_settings = service_settings
        self.serves: list[subprocess.Popen[bytes] | None] = [None] * NODES
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
        self.links = ProxyProcess(self.work_dir, {"postgres": self.postgres.port, "redis": self.redis.port})
        await self.links.start()

    async def stop_proxies(self) -> None:
        if self.links is not None:
            await self.links.stop()

    @property
    def pg_proxy(self) -> RemoteProxy:
        assert self.links is not None
        return self.links.proxies["postgres"]

    @property
    def redis_proxy(self) -> RemoteProxy:
        assert self.links is not None
        return self.links.proxies["redis"]

    def start_balancer(self) -> None:
        """HAProxy in front of the nodes (it stays healthy: the faults are elsewhere). Its log has
        the abnormal requests only (a node that died under one, none up), beside the nodes'."""
        self.balancer_port = free_port()
        command = haproxy_command(
            self.work_dir / "haproxy.cfg", self.balancer_port, self.node_ports, log_every_request=False
        )
        with (self.work_dir / "haproxy.log").open("ab") as log:
            self.balancer = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.work_dir, start_new_session=True
            )

    @property
    def port(self) -> int:
        """Where the fans connect: the balancer."""
        assert self.balancer is not None
        return self.balancer_port

    @property
    def proxies(self) -> list[RemoteProxy]:
        """The faulty links to the servers."""
        return [] if self.links is None else list(self.links.proxies.values())

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
        env = {
            **os.environ,
            MARKER: self.run_id,
            "DATABASE_URL": f"postgresql://postgres@{HOST}:{self.pg_proxy.port}/ticketing",
            "REDIS_URL": f"redis://{HOST}:{self.redis_proxy.port}/0",
            "TICKETING_ENV": "local",
            "TICKETING_DATA_DIR": str(self.service_data),  # shares the signing secret with the harness
            "TICKETING_HOST": HOST,
            "TICKETING_WORKERS": str(WORKERS_PER_NODE),
            # The balancer is the fans' only way in: their X-Forwarded-For names the client, so
            # the per-address limits count each fan, not the loopback address they all share.
            "TICKETING_TRUSTED_PROXIES": HOST,
            "TICKETING_RUN_JOBS_IN_SERVER": "false",
            "TICKETING_LOG_LEVEL": "WARNING",
        }
        env.update(self.service_settings)
        return env

    def launch_service(self) -> None:
        """Start every node and the worker without waiting: during a restart the load goes on."""
        for node in range(NODES):
            self.launch_node(node)
        self.worker = self._spawn("worker", self.service_env())

    def launch_node(self, node: int) -> None:
        env = {**self.service_env(), "TICKETING_PORT": str(self.node_ports[node])}
        self.serves[node] = self._spawn("serve", env, log_name=f"serve-{node + 1}")

    def _serve(self, node: int) -> subprocess.Popen[bytes] | None:
        return self.serves[node]

    @property
    def live_serves(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.serves if p is not None]

    def nodes_running(self) -> bool:
        return all(p is not None and p.poll() is None for p in self.serves)

    def _spawn(self, command: str, env: dict[str, str], log_name: str | None = None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{log_name or command}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "ticketing.cli", command],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the harness alone
            )

    async def wait_ready(self, limit: float = 60.0, nodes: list[int] | None = None) -> float:
        """Seconds until ``/readyz`` of every node (or of ``nodes``) answers 200: each reaches
        both servers."""
        started = time.monotonic()
        for node in range(NODES) if nodes is None else nodes:
            await _until_ready(
                self.node_ports[node],
                functools.partial(self._serve, node),
                f"ticketing serve {node + 1}",
                started + limit,
            )
        return time.monotonic() - started

    async def wait_balancer(self, limit: float = 30.0) -> None:
        """Until the balancer answers ``/readyz`` with 200 (a node's answer through it)."""
        await _until_ready(self.balancer_port, lambda: self.balancer, "haproxy", time.monotonic() + limit)

    def granian_workers(self, node: int | None = None) -> list[psutil.Process]:
        """The worker processes of every node's ``serve`` (or of ``node``'s): granian's
        children that run our app."""
        found = []
        for index, serve in enumerate(self.serves):
            if serve is None or node not in (None, index):
                continue
            try:
                children = psutil.Process(serve.pid).children(recursive=True)
            except psutil.Error:
                continue
            found += [c for c in children if _alive(c) and _is_service_process(c, self.run_id)]
        return found

    async def kill_node(self, node: int) -> int:
        """SIGKILL one node's ``serve`` and its granian workers (a machine lost)."""
        serve = self.serves[node]
        if serve is None:
            return 0
        victims = self.granian_workers(node)
        with contextlib.suppress(psutil.Error):  # already gone: its workers are still killed
            victims.append(psutil.Process(serve.pid))
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        await asyncio.to_thread(psutil.wait_procs, victims, 10)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(serve.wait, 5)
        return len(victims)

    def service_processes(self) -> list[psutil.Process]:
        """Every live process of this run's service, wherever it is in the process tree."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid != os.getpid() and _alive(proc) and _is_service_process(proc, self.run_id):
                found.append(proc)
        return found

    def expected_service_pids(self) -> set[int]:
        pids = {p.pid for p in (*self.live_serves, self.worker) if p is not None and p.poll() is None}
        for serve in self.live_serves:
            with contextlib.suppress(psutil.Error):
                pids |= {c.pid for c in psutil.Process(serve.pid).children(recursive=True)}
        return pids

    def orphans(self) -> list[psutil.Process]:
        """Service processes outside the current serve trees and worker: left behind."""
        expected = self.expected_service_pids()
        return [p for p in self.service_processes() if p.pid not in expected]

    async def kill_service(self) -> int:
        """SIGKILL every process of the service at once (every node, its workers, the worker)."""
        victims = await asyncio.to_thread(self.service_processes)  # a scan of /proc: off the loop
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        await asyncio.to_thread(self._reap, victims)
        return len(victims)

    async def stop_service(self) -> list[psutil.Process]:
        """SIGTERM to every node and to the worker, as a supervisor stops them; returns the service
        processes still alive after the grace period (a defect), which are then killed."""
        for popen in (*self.live_serves, self.worker):
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
        self.serves = [None] * NODES
        self.worker = None
        return left

    def processes_by_part(self) -> dict[str, list[psutil.Process]]:
        """Every live process of the run, by part (for ``chaos.cpu``): the service (every node, its
        workers, the worker), the harness itself, PostgreSQL (the postmaster and its backends),
        Valkey, HAProxy and the faulty proxies."""

        def tree(pid: int | None) -> list[psutil.Process]:
            if pid is None:
                return []
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                return [root, *root.children(recursive=True)]
            return []

        def pid(popen: subprocess.Popen[bytes] | None) -> int | None:
            return None if popen is None or popen.poll() is not None else popen.pid

        return {
            "service": self.service_processes(),
            "harness": [psutil.Process()],
            "PostgreSQL": tree(pid(self.postgres.process)),
            "Valkey": tree(pid(self.redis.process)),
            "HAProxy": tree(pid(self.balancer)),
            "proxies": tree(self.links.pid if self.links is not None else None),
        }

    def _reap(self, procs: list[psutil.Process]) -> None:
        psutil.wait_procs(procs, timeout=10)
        for popen in (*self.live_serves, self.worker):
            if popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(5)

    # --- the end --------------------------------------------------------------------------------

    def stop_balancer(self) -> None:
        if self.balancer is not None and self.balancer.poll() is None:
            self.balancer.terminate()
            try:
                self.balancer.wait(5)
            except subprocess.TimeoutExpired:
                self.balancer.kill()
                self.balancer.wait(5)

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
            self.work_dir / "haproxy.log",
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
        for popen in (*self.live_serves, self.worker):  # normally stopped already, by stop_service
            if popen is not None and popen.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(popen.pid, signal.SIGKILL)
        self.stop_balancer()
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


async def _until_ready(
    port: int, process: Callable[[], subprocess.Popen[bytes] | None], what: str, give_up_at: float
) -> None:
    """Until ``/readyz`` on ``port`` answers 200; fails at once if ``process`` has exited."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=2.0) as client:
        while True:
            popen = process()
            if popen is not None and popen.poll() is not None:
                raise RuntimeError(f"{what} exited with {popen.returncode}; see its log")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > give_up_at:
                raise RuntimeError(f"{what} was not ready in time")
            await asyncio.sleep(0.1)


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
