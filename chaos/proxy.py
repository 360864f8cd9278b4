"""A small asyncio TCP proxy with fault toggles: added latency, reset of every live connection,
refusal of new ones.

The service is pointed at the proxy, never at the server, so that the harness can degrade the
network between them without touching either process. Latency is added per direction as a
delivery time for each chunk (not a sleep before each read), so a busy connection keeps its
throughput and only its round trips get longer.

With several upstreams it is also the balancer in front of the service's nodes: each new
connection goes to the next node in turn, and to the one after when a node refuses it (a
dead node costs a client nothing but a reconnect, as HAProxy's redispatch does).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

HOST = "127.0.0.1"
CHUNK = 65536
UPSTREAM_CONNECT_TIMEOUT = 2.0


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a broken network or a dead peer would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


class _Link:
    """One client connection and its upstream connection, pumped both ways."""

    def __init__(self, proxy: FaultyProxy, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        _abort(self.client)
        _abort(self.upstream)
        for task in self.tasks:
            task.cancel()

    async def pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Read chunks as they come, deliver each one ``latency`` seconds after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._deliver(queue, dst))
        try:
            while True:
                data = await src.read(CHUNK)
                queue.put_nowait((time.monotonic() + self.proxy.latency, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.IncompleteReadError):
            self.reset()
        finally:
            sender.cancel()

    @staticmethod
    async def _deliver(queue: asyncio.Queue[tuple[float, bytes]], dst: asyncio.StreamWriter) -> None:
        while True:
            due, data = await queue.get()
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not data:
                with contextlib.suppress(OSError):
                    if dst.can_write_eof():
                        dst.write_eof()
                return
            dst.write(data)
            await dst.drain()


class FaultyProxy:
    """Listens on a free loopback port for the lifetime of the run and forwards to
    ``upstream_ports`` (round-robin); the port stays the same while a server behind it is
    killed and restarted, exactly as a service address would."""

    def __init__(self, name: str, *upstream_ports: int) -> None:
        if not upstream_ports:
            raise ValueError("a proxy needs at least one upstream port")
        self.name = name
        self.upstream_ports = list(upstream_ports)
        self._next = 0
        self.latency = 0.0  # seconds added to each direction
        self.refusing = False
        self.port = 0
        self.links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def faulty(self) -> bool:
        return self.refusing or self.latency > 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, 0, backlog=1024)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.reset_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def reset_all(self) -> int:
        """Reset every live connection (both sides); returns how many there were."""
        links = list(self.links)
        for link in links:
            link.reset()
        self.links.clear()
        return len(links)

    def heal(self) -> None:
        self.latency = 0.0
        self.refusing = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_link(reader, writer)
        except asyncio.CancelledError:
            # The run is ending. A leaf task: asyncio's stream callback (3.11) would log a
            # cancelled handler as an error, so it ends quietly instead.
            _abort(writer)

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the next upstream in turn, or to the following ones if it refuses."""
        first = self._next
        self._next = (self._next + 1) % len(self.upstream_ports)
        for step in range(len(self.upstream_ports)):
            port = self.upstream_ports[(first + step) % len(self.upstream_ports)]
            with contextlib.suppress(OSError, TimeoutError):
                return await asyncio.wait_for(asyncio.open_connection(HOST, port), UPSTREAM_CONNECT_TIMEOUT)
        return None

    async def _serve_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            # Accepted by the kernel already; a reset at once is what a client sees from a
            # refused or firewalled port through a load balancer.
            _abort(writer)
            return
        upstream = await self._connect_upstream()
        if upstream is None:
            _abort(writer)  # every server behind is down: the client sees its connection drop
            return
        up_reader, up_writer = upstream
        link = _Link(self, writer, up_writer)
        self.links.add(link)
        link.tasks = [
            asyncio.create_task(link.pump(reader, up_writer)),
            asyncio.create_task(link.pump(up_reader, writer)),
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self.links.discard(link)
            for side in (writer, up_writer):
                with contextlib.suppress(Exception):
                    side.close()
