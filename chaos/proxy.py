"""A small asyncio TCP proxy with fault toggles: added latency, reset of every live connection,
refusal of new ones.

The service is pointed at the proxy, never at the server, so that the harness can degrade the
network between them without touching either process. Latency is added per direction as a
delivery time for each chunk (not a sleep before each read), so a busy connection keeps its
throughput and only its round trips get longer.

The proxies run in a process of their own (``python -m chaos.proxy``, driven by ``ProxyProcess``
over its stdin and stdout): every query and Redis command of the service passes through them,
and in the harness's event loop, beside hundreds of fans, a busy moment of the fans became
latency on the service's links (timeouts, 503s) that no fault had caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

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
    ``upstream_port``; the port stays the same while the server behind it is killed and
    restarted, exactly as a service address would."""

    def __init__(self, name: str, upstream_port: int) -> None:
        self.name = name
        self.upstream_port = upstream_port
        self.latency = 0.0  # seconds added to each direction
        self.refusing = False
        self.port = 0
        self.links: set[_Link] = set()
        self._server: asyncio.Server | None = None

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
        with contextlib.suppress(OSError, TimeoutError):
            return await asyncio.wait_for(asyncio.open_connection(HOST, self.upstream_port), UPSTREAM_CONNECT_TIMEOUT)
        return None

    async def _serve_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            # Accepted by the kernel already; a reset at once is what a client sees from a
            # refused or firewalled port through a load balancer.
            _abort(writer)
            return
        upstream = await self._connect_upstream()
        if upstream is None:
            _abort(writer)  # the server behind is down: the client sees its connection drop
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


# --- in a process of its own -----------------------------------------------------------------


class _Command(msgspec.Struct, forbid_unknown_fields=True):
    proxy: str
    do: str  # "latency" (with ``seconds``), "refuse" (and reset the live connections), "heal"
    seconds: float = 0.0


async def _serve_commands(upstreams: dict[str, int]) -> None:
    """Start a proxy per upstream, print their ports (one JSON line), then obey one command per
    line of stdin, answering each with a line; end when stdin closes (the harness is gone)."""
    proxies = {name: FaultyProxy(name, port) for name, port in upstreams.items()}
    for proxy in proxies.values():
        await proxy.start()
    out = sys.stdout.buffer
    out.write(msgspec.json.encode({name: proxy.port for name, proxy in proxies.items()}) + b"\n")
    out.flush()
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = msgspec.json.decode(line, type=_Command)
        proxy = proxies[command.proxy]
        reset = 0
        if command.do == "latency":
            proxy.latency = command.seconds
        elif command.do == "refuse":
            proxy.refusing = True
            reset = proxy.reset_all()
        else:
            proxy.heal()
        out.write(msgspec.json.encode({"reset": reset}) + b"\n")
        out.flush()
    for proxy in proxies.values():
        await proxy.stop()


@dataclass
class RemoteProxy:
    """The harness's handle on one proxy of a ``ProxyProcess``."""

    name: str
    port: int
    process: ProxyProcess

    async def set_latency(self, seconds: float) -> None:
        """Add ``seconds`` to each direction of every connection."""
        await self.process.command(self.name, "latency", seconds)

    async def refuse(self) -> int:
        """Reset every live connection and refuse new ones; returns how many were reset."""
        return await self.process.command(self.name, "refuse")

    async def heal(self) -> None:
        await self.process.command(self.name, "heal")


class ProxyProcess:
    """``python -m chaos.proxy`` with one proxy per upstream; its command line names ``folder``
    (where it logs), so that a scan for the run's processes finds it."""

    def __init__(self, folder: Path, upstreams: dict[str, int]) -> None:
        self.folder = folder
        self.upstreams = upstreams
        self.proxies: dict[str, RemoteProxy] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        args = [f"{name}={port}" for name, port in self.upstreams.items()]
        with (self.folder / "proxies.log").open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "chaos.proxy", str(self.folder), *args,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            )  # fmt: skip
        assert self._process.stdout is not None
        ports = msgspec.json.decode(await asyncio.wait_for(self._process.stdout.readline(), 30), type=dict[str, int])
        self.proxies = {name: RemoteProxy(name, port, self) for name, port in ports.items()}

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def command(self, proxy: str, do: str, seconds: float = 0.0) -> int:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None or process.returncode is not None:
            raise RuntimeError("the proxies' process is not running; see proxies.log")
        async with self._lock:
            process.stdin.write(msgspec.json.encode(_Command(proxy, do, seconds)) + b"\n")
            await process.stdin.drain()
            answer = msgspec.json.decode(await asyncio.wait_for(process.stdout.readline(), 10), type=dict[str, int])
        return answer["reset"]

    async def stop(self) -> None:
        """Close its stdin (it stops its proxies and exits), killing it if it does not."""
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        self._process = None


def main(argv: list[str]) -> None:
    """``python -m chaos.proxy <folder> <name>=<upstream port>...``"""
    upstreams = {name: int(port) for name, port in (arg.split("=", 1) for arg in argv[1:])}
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    asyncio.run(_serve_commands(upstreams))


if __name__ == "__main__":
    main(sys.argv[1:])
