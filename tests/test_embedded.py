"""The embedded servers that ``make run`` and ``make cluster`` start."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from redis import Redis

from ticketing.devservers.embedded import EmbeddedPostgres, EmbeddedRedis


def test_the_embedded_valkey_of_make_run_keeps_its_data_over_a_restart(tmp_path: Path) -> None:
    """``make run`` persists the queues (append-only file): restarting Valkey keeps every fan's
    place and token. Without it a restart is a Redis loss."""
    server = EmbeddedRedis(tmp_path, durable=True)
    try:
        Redis.from_url(server.start()).set("wr:{1}:seq", 41)
        server.stop()
        client = Redis.from_url(server.start())
        assert client.get("wr:{1}:seq") == b"41"
        client.close()
    finally:
        server.stop()


def test_a_standby_replays_the_primarys_writes_and_takes_none() -> None:
    """``make cluster``'s PostgreSQL replica: a copy of the primary (``pg_basebackup -R``) that
    streams its changes, read-only, and shows in the primary's ``pg_stat_replication``."""
    # Not pytest's tmp_path: PostgreSQL runs as another user, who must traverse the folder's
    # parents, and pytest resets its own root folder to 0700 whenever another run starts.
    tmp_path = Path(tempfile.mkdtemp(prefix="ticketing-standby-"))
    primary = EmbeddedPostgres(tmp_path / "primary", durable=False)
    standby = EmbeddedPostgres(tmp_path / "standby", durable=False)
    try:
        primary.start()
        primary.query("CREATE TABLE seats_sold (id int)")
        standby.primary_port = primary.port
        standby.start()
        primary.query("INSERT INTO seats_sold VALUES (1), (2)")
        deadline = time.monotonic() + 30
        while standby.query("SELECT count(*) FROM seats_sold") != "2":
            assert time.monotonic() < deadline, "the standby did not replay the insert"
            time.sleep(0.1)
        assert standby.query("SELECT pg_is_in_recovery()") == "t"
        with pytest.raises(subprocess.CalledProcessError) as refused:
            standby.query("INSERT INTO seats_sold VALUES (3)")
        assert "read-only transaction" in refused.value.stderr
        assert primary.query("SELECT state FROM pg_stat_replication") == "streaming"
    finally:
        standby.stop()
        primary.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)
