"""Everything ``make cluster`` starts and owns, in start order, stopped in reverse:

- PostgreSQL (the embedded binaries), migrated, and a streaming replica of it (``pg_basebackup
  -R``: a hot standby, read-only, that the service does not use; it is there to take over by hand
  if the primary is lost, and to serve reads later; its lag is reported);
- PgBouncer in transaction mode in front of the primary (Debian package ``pgbouncer``);
- a Valkey cluster of 3 masters each with a replica (the embedded binary), every slot covered; a
  master silent for ``VALKEY_NODE_TIMEOUT_MS`` is replaced by its replica (automatic failover);
- the production bootstrap: an operator from ``ticketing admin create-operator`` and, through the
  same command line, a concert with a date on sale;
- 3 API nodes (``ticketing serve``, production mode, ``TICKETING_DB_PGBOUNCER=true``, the Redis
  Cluster URL), and one ``ticketing worker`` for the background jobs;
- HAProxy (Debian package ``haproxy``) in front of the nodes, configured as ``make chaos``'s
  (``chaos/balancer.py``): round robin, health check on ``/healthz`` (docs/operations.md,
  "Health checks for load balancers"), ``X-Forwarded-For`` for the rate limits (the nodes trust
  127.0.0.1 as a proxy), and a header naming the node that answered.

Every process runs in its own session (a Ctrl-C in the terminal reaches the launcher alone, which
then stops them in order) and from the topology's folder; logs are in ``<folder>/logs``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from chaos.balancer import haproxy_binary, haproxy_command

from ticketing.cli import migrate
from ticketing.devservers.embedded import EmbeddedPostgres, EmbeddedValkeyCluster, LocalPgBouncer, free_port

HOST = "127.0.0.1"
NODES = 3
VALKEY_MASTERS = 3
# Short, so that a killed master is replaced within seconds (the server's default is 15 s); not so
# short that a node slowed down by a busy machine is taken for dead.
VALKEY_NODE_TIMEOUT_MS = 2000
OPERATOR = "admin"
STOP_GRACE_SECONDS = 15.0


@dataclass
class Topology:
    work_dir: Path
    port: int = 8080
    nodes: int = NODES
    postgres: EmbeddedPostgres = field(init=False)
    postgres_replica: EmbeddedPostgres = field(init=False)
    bouncer: LocalPgBouncer | None = field(init=False, default=None)
    valkey: EmbeddedValkeyCluster = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(init=False, default_factory=dict)
    node_ports: list[int] = field(init=False, default_factory=list)
    stats_port: int = field(init=False, default=0)
    operator_password: str = field(init=False, default_factory=lambda: secrets.token_urlsafe(18))
    jwt_secret: str = field(init=False, default_factory=lambda: secrets.token_urlsafe(48))
    metrics_token: str = field(init=False, default_factory=lambda: secrets.token_urlsafe(24))
    concert_id: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.postgres = EmbeddedPostgres(self.work_dir / "postgres", durable=True)
        self.postgres_replica = EmbeddedPostgres(self.work_dir / "postgres-replica", durable=True)
        self.valkey = EmbeddedValkeyCluster(
            self.work_dir / "valkey", masters=VALKEY_MASTERS, replicas=1, node_timeout_ms=VALKEY_NODE_TIMEOUT_MS
        )

    @property
    def logs(self) -> Path:
        return self.work_dir / "logs"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # --- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        if haproxy_binary() is None or LocalPgBouncer.binary() is None:
            raise RuntimeError("HAProxy and PgBouncer are needed (Debian packages haproxy, pgbouncer: make cluster)")
        self.logs.mkdir(parents=True, exist_ok=True)
        self._say("PostgreSQL")
        self.postgres.start()
        migrate(self.postgres.url)  # straight to PostgreSQL: migrations hold a session
        self._say("PostgreSQL streaming replica")
        self.postgres_replica.primary_port = self.postgres.port
        self.postgres_replica.start()
        self._say("PgBouncer (transaction mode)")
        self.bouncer = LocalPgBouncer(self.work_dir / "pgbouncer", self.postgres.port, pool_size=20)
        self.bouncer.start()
        self._say(f"Valkey cluster ({VALKEY_MASTERS} masters, a replica each)")
        self.valkey.start()
        self._say("production bootstrap: operator and a concert")
        self._bootstrap()
        self.node_ports = [free_port() for _ in range(self.nodes)]
        for i in range(1, self.nodes + 1):
            self.start_node(f"node{i}")
        self._spawn("worker", [sys.executable, "-m", "ticketing.cli", "worker"])
        for i, node_port in enumerate(self.node_ports, 1):
            self._wait_http(f"http://{HOST}:{node_port}/readyz", f"node{i}")
        self.stats_port = free_port()
        command = haproxy_command(self.work_dir / "haproxy.cfg", self.port, self.node_ports, stats_port=self.stats_port)
        self._spawn("haproxy", command, service=False)
        self._wait_http(f"{self.url}/readyz", "HAProxy")

    def start_node(self, name: str) -> None:
        """Start API node ``name`` (``node1`` …) on its port: at start, and again after a fault."""
        port = self.node_ports[int(name.removeprefix("node")) - 1]
        self._spawn(name, [sys.executable, "-m", "ticketing.cli", "serve"], TICKETING_PORT=str(port))

    def wait_node(self, name: str) -> None:
        port = self.node_ports[int(name.removeprefix("node")) - 1]
        self._wait_http(f"http://{HOST}:{port}/readyz", name)

    def replica_lag(self) -> tuple[int, float] | None:
        """The PostgreSQL replica's lag as the primary sees it: (bytes of WAL not yet replayed,
        seconds); None while it is not streaming."""
        row = self.postgres.query(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), "
            "coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication WHERE state = 'streaming'"
        )
        if not row:
            return None
        lag_bytes, lag_seconds = row.splitlines()[0].split("|")
        return int(float(lag_bytes or 0)), float(lag_seconds or 0)

    def service_env(self, **extra: str) -> dict[str, str]:
        assert self.bouncer is not None
        env = {
            **os.environ,
            "TICKETING_ENV": "production",
            "TICKETING_JWT_SECRET": self.jwt_secret,
            "TICKETING_METRICS_TOKEN": self.metrics_token,
            "DATABASE_URL": self.bouncer.url,
            "TICKETING_DB_PGBOUNCER": "true",
            "REDIS_URL": self.valkey.url,
            "TICKETING_DATA_DIR": str(self.work_dir / "service"),
            "TICKETING_HOST": HOST,
            "TICKETING_WORKERS": "1",
            "TICKETING_DB_POOL_SIZE": "5",
            "TICKETING_RUN_JOBS_IN_SERVER": "false",
            "TICKETING_TRUSTED_PROXIES": HOST,  # HAProxy: the fan's address is in X-Forwarded-For
            "TICKETING_LOG_JSON": "true",
        }
        env.pop("TICKETING_ADMIN_PASSWORD", None)
        env.update(extra)
        return env

    def _ticketing(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ticketing.cli", *args],
            env=self.service_env(),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ticketing {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def _bootstrap(self) -> None:
        import json
        from datetime import UTC, datetime, timedelta

        self._ticketing(
            "admin", "create-operator", "--name", OPERATOR, "--password-stdin", stdin=self.operator_password
        )
        password_file = self.work_dir / "operator-password"
        password_file.write_text(self.operator_password + "\n")
        password_file.chmod(0o600)
        concert = json.loads(self._ticketing("admin", "create-concert", "--title", "make cluster", "--venue", "Hall"))
        self.concert_id = int(concert["id"])
        now = datetime.now(UTC).replace(microsecond=0)
        self._ticketing(
            "admin", "create-schedule", "--concert-id", str(self.concert_id),
            "--starts-at", (now + timedelta(days=30)).isoformat(),
            "--opens-at", (now - timedelta(hours=1)).isoformat(),
            "--closes-at", (now + timedelta(days=29)).isoformat(),
            "--seats", "100", "--price", "50000",
        )  # fmt: skip

    def _spawn(self, name: str, args: list[str], *, service: bool = True, **extra: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                args,
                env=self.service_env(**extra) if service else dict(os.environ),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=self.work_dir,
                start_new_session=True,
            )

    def _wait_http(self, url: str, what: str, limit: float = 90.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.ensure_running()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{what} was not ready within {limit:.0f} s ({url}); see {self.logs}")

    def ensure_running(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs / name}.log")

    @staticmethod
    def _say(what: str) -> None:
        print(f"  starting {what}", flush=True)

    # --- stop -----------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop everything, in reverse order; the names of what had to be killed."""
        killed: list[str] = []
        # The balancer first (no new requests), then the nodes (granian drains on SIGINT), the
        # worker, and the servers under them.
        order = ["haproxy", *(f"node{i}" for i in range(1, self.nodes + 1)), "worker"]
        stop_signal = {"haproxy": signal.SIGTERM, "worker": signal.SIGTERM}
        for name in order:
            process = self.processes.get(name)
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(stop_signal.get(name, signal.SIGINT))
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name in order:
            process = self.processes.get(name)
            if process is None:
                continue
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: granian's workers too
                process.wait()
        self.processes.clear()
        if self.bouncer is not None:
            self.bouncer.stop()
        self.valkey.stop()
        self.postgres_replica.stop()
        self.postgres.stop()
        return killed
