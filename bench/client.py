"""A lean asyncio HTTP/1.1 keep-alive client for load generation.

Requests are pre-encoded bytes; responses are parsed only as far as needed (status, length,
and the problem ``code`` of an error). On a 2-core machine the load generator shares the CPU
with the server, so every microsecond here is one the server does not get.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import msgspec


def encode_request(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: object = None
) -> bytes:
    payload = b"" if body is None else msgspec.json.encode(body)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> object:
        return msgspec.json.decode(self.body)

    @property
    def code(self) -> str:
        if self.status < 400:
            return "OK"
        try:
            decoded = msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return f"HTTP_{self.status}"
        return str(decoded.get("code", f"HTTP_{self.status}")) if isinstance(decoded, dict) else f"HTTP_{self.status}"


# The service closes a kept-alive connection that sent nothing for its idle timeout (15 s by
# default, devservers/serving.py); a pooled connection idle for longer than this is opened anew
# before use, as HTTP clients expire theirs, so that a pause between phases is not a lost request.
POOLED_IDLE_SECONDS = 10.0


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> Response:
        self.writer.write(raw)
        return await self.read_response()

    async def read_response(self) -> Response:
        """The answer to the request written last (``send``, or a burst's own ``writer.write``)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return Response(status, bytes(body))
        return Response(status, await self.reader.readexactly(length) if length else b"")

    def close(self) -> None:
        self.writer.close()


def server_cpu_per_request_us(cpu_seconds: float | None, requests: int) -> float | None:
    """The server's CPU time per answered request, in microseconds (None: not measured)."""
    if cpu_seconds is None or not requests:
        return None
    return cpu_seconds / requests * 1e6


@dataclass
class Recorder:
    """Every request's end time, latency, status and outcome code, for tables and plots."""

    name: str
    started: float = field(default_factory=time.perf_counter)
    ends: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    finished: float = 0.0
    server_cpu_seconds: float | None = None  # the served processes' CPU time during the run (server.py)

    def record(self, began: float, response: Response) -> None:
        now = time.perf_counter()
        self.ends.append(now - self.started)
        self.latencies.append(now - began)
        self.codes[response.code] += 1
        self.statuses[response.status] += 1
        if response.status >= 500:
            self.server_errors += 1

    def record_failure(self, began: float, kind: str) -> None:
        now = time.perf_counter()
        self.ends.append(now - self.started)
        self.latencies.append(now - began)
        self.codes[kind] += 1
        self.server_errors += 1

    def close(self) -> None:
        self.finished = time.perf_counter() - self.started

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.finished if self.finished else 0.0

    @property
    def server_cpu_per_request_us(self) -> float | None:
        return server_cpu_per_request_us(self.server_cpu_seconds, self.count)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Pool:
    """A fixed set of keep-alive connections shared by many simulated fans."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self._free: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self._free.put_nowait(await Connection.open(self.host, self.port))

    async def send(self, raw: bytes, recorder: Recorder | None = None) -> Response:
        conn = await self._free.get()
        if time.monotonic() - conn.last_used > POOLED_IDLE_SECONDS:
            conn.close()
            conn = await Connection.open(self.host, self.port)
        began = time.perf_counter()
        try:
            response = await conn.send(raw)
        except (OSError, asyncio.IncompleteReadError):
            conn.close()
            conn = await Connection.open(self.host, self.port)
            if recorder is not None:
                recorder.record_failure(began, "CONNECTION_ERROR")
            response = Response(599, b"")
        else:
            if recorder is not None:
                recorder.record(began, response)
        finally:
            conn.last_used = time.monotonic()
            self._free.put_nowait(conn)
        return response

    def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait().close()


async def closed_loop(
    host: str, port: int, name: str, connections: int, duration: float, request: object, total: int | None = None
) -> Recorder:
    """``connections`` workers each send the next request as soon as the last one answered, for
    ``duration`` seconds or until ``total`` requests were sent. ``request(i)`` builds request i."""
    recorder = Recorder(name)
    deadline = time.perf_counter() + duration
    counter = iter(range(total if total is not None else 1 << 62))

    async def worker() -> None:
        conn = await Connection.open(host, port)
        try:
            while time.perf_counter() < deadline:
                index = next(counter, None)
                if index is None:
                    return
                raw = request(index)  # type: ignore[operator]
                began = time.perf_counter()
                try:
                    recorder.record(began, await conn.send(raw))
                except (OSError, asyncio.IncompleteReadError):
                    recorder.record_failure(began, "CONNECTION_ERROR")
                    conn.close()
                    conn = await Connection.open(host, port)
        finally:
            conn.close()

    recorder.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    recorder.close()
    return recorder
