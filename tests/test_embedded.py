"""The embedded servers that ``make run`` starts."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from ticketing.devservers.embedded import EmbeddedRedis


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
