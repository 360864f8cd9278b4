"""The harnesses' balancer (``chaos/balancer.py``): HAProxy, Debian's package, as ``make chaos``
and ``make cluster`` run it in front of their nodes. What the fans rely on: each request goes to
the next node in turn, the fan's own address reaches the node (so the per-address limits count
fans), a node that is gone is skipped, and an error HAProxy makes itself is told apart from an
answer of the service."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
from chaos.balancer import haproxy_binary, haproxy_command
from chaos.fans import _reply
from chaos.journal import NETWORK

from ticketing.devservers.embedded import free_port
from ticketing.kernel.ratelimit import ClientAddress

pytestmark = pytest.mark.skipif(haproxy_binary() is None, reason="HAProxy (Debian package haproxy) is not installed")


class _Node:
    """A stand-in for an API node: answers every request 200 with its name and the
    X-Forwarded-For lines it received; ``stop`` takes it away, its open connections too."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.connections: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.connections:
                writer.transport.abort()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                forwarded = [
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"x-forwarded-for:")
                ]
                body = msgspec.json.encode({"node": self.name, "forwarded": forwarded})
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        self.connections.discard(writer)
        writer.close()


def _haproxy(folder: Path, port: int, nodes: list[int]) -> subprocess.Popen[bytes]:
    command = haproxy_command(folder / "haproxy.cfg", port, nodes, log_every_request=False)
    with (folder / "haproxy.log").open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # noqa: S603


@pytest.fixture
async def nodes_behind_haproxy(tmp_path: Path) -> AsyncIterator[tuple[list[_Node], str]]:
    nodes = [_Node("node1"), _Node("node2")]
    for node in nodes:
        await node.start()
    port = free_port()
    haproxy = _haproxy(tmp_path, port, [node.port for node in nodes])
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient() as client:
                    await client.get(url)
                    break
            await asyncio.sleep(0.05)
        yield nodes, url
    finally:
        haproxy.terminate()
        await asyncio.to_thread(haproxy.wait, 10)
        for node in nodes:
            await node.stop()


async def test_requests_take_turns_and_carry_the_fans_address(
    nodes_behind_haproxy: tuple[list[_Node], str],
) -> None:
    _, url = nodes_behind_haproxy
    async with httpx.AsyncClient(base_url=url) as client:  # one keep-alive connection
        answers = [await client.get("/", headers={"X-Forwarded-For": "10.7.0.1"}) for _ in range(4)]
    served = [a.json()["node"] for a in answers]
    assert sorted(served[:2]) == ["node1", "node2"] and served[2:] == served[:2]  # in turn, per request
    assert [a.headers["X-Served-By"] for a in answers] == served
    forwarded = answers[0].json()["forwarded"]
    assert forwarded == ["10.7.0.1", "127.0.0.1"]  # the fan's, then the balancer's own peer
    # What the service makes of it, trusting the balancer as make chaos and make cluster do.
    scope = {"client": ("127.0.0.1", 40000), "headers": [(b"x-forwarded-for", v.encode()) for v in forwarded]}
    assert ClientAddress(["127.0.0.1"]).of(scope) == "10.7.0.1"


async def test_a_node_gone_is_skipped_and_none_left_is_the_balancers_own_error(
    nodes_behind_haproxy: tuple[list[_Node], str],
) -> None:
    nodes, url = nodes_behind_haproxy
    await nodes[0].stop()
    async with httpx.AsyncClient(base_url=url) as client:
        answers = [await client.get("/") for _ in range(4)]
        assert [a.json()["node"] for a in answers] == ["node2"] * 4  # refused by node 1: sent to node 2
        assert all(not _reply(a).transient for a in answers)
        await nodes[1].stop()
        gone = await client.get("/")
    assert gone.status_code == 503
    assert "X-Served-By" not in gone.headers
    reply = _reply(gone)  # to a fan: no answer from the service, as a dropped connection
    assert (reply.status, reply.code, reply.transient) == (NETWORK, "BALANCER_503", True)
