"""HTTP hygiene of ``ticketing serve`` as deployed (granian), spoken to over raw sockets (issue
24): a malformed or truncated body is a 422 problem, never a 500; an oversized body always gets
its 413, many at once; HEAD answers every GET; an idle kept-alive connection is closed."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.server import HOST, ServiceUnderTest

MiB = 1024 * 1024
IDLE_TIMEOUT_SECONDS = 1
SIGN_UP = b"POST /api/v1/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def service(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUnderTest]:
    database_url, redis_url = servers
    served = ServiceUnderTest(database_url, redis_url, tmp_path_factory.mktemp("raw-http"))
    served.start(workers=1, http_idle_timeout_seconds=IDLE_TIMEOUT_SECONDS, request_deadline_seconds=2)
    try:
        yield served
    finally:
        served.stop()


def exchange(port: int, payload: bytes, *, then_close_writing: bool = False) -> bytes:
    """Send ``payload`` and read until the server closes (or 30 s pass: then the test fails)."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(payload)
        if then_close_writing:
            sock.shutdown(socket.SHUT_WR)
        return read_to_close(sock)


def read_to_close(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        received += b"<reset>"
    return received


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def server_log(service: ServiceUnderTest) -> str:
    return (Path(service.data_dir) / "server.log").read_text(errors="replace")


BROKEN_BODIES = {
    "a chunk size that is no number": (SIGN_UP + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n", False),
    "a chunk shorter than its size": (SIGN_UP + b"Transfer-Encoding: chunked\r\n\r\n10\r\nabc\r\n0\r\n\r\n", False),
    "chunks that stop, the client gone": (SIGN_UP + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"nam\r\n', True),
    "a length not reached, the client gone": (SIGN_UP + b'Content-Length: 100\r\n\r\n{"name":', True),
    "a length not reached, the client silent": (SIGN_UP + b'Content-Length: 100\r\n\r\n{"name":', False),
    "a bad length": (SIGN_UP + b"Content-Length: many\r\n\r\n{}", False),
}


@pytest.mark.parametrize("case", list(BROKEN_BODIES))
def test_a_malformed_or_truncated_body_is_a_4xx_never_a_500(service: ServiceUnderTest, case: str) -> None:
    payload, close_writing = BROKEN_BODIES[case]
    answer = exchange(service.port, payload, then_close_writing=close_writing)
    if answer:  # granian answers a framing it cannot read with 400 itself, or the service with 422
        status, body = status_and_body(answer)
        assert 400 <= status < 500, answer[:300]
        if status == 422:
            assert json.loads(body)["code"] == "VALIDATION_ERROR"
    # The service is fine afterwards, and nothing was logged as unexpected.
    healthy = exchange(service.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status_and_body(healthy)[0] == 200
    assert "unhandled error" not in server_log(service)


def test_an_oversized_body_gets_its_413_before_the_connection_closes_many_at_once(
    service: ServiceUnderTest,
) -> None:
    """Clients that send the whole body before they read (most do), 24 at once, 2 to 20 MiB each:
    every one reads a 413 PAYLOAD_TOO_LARGE, none a reset connection."""
    answers: list[bytes] = []

    def send_big(size: int) -> None:
        with socket.create_connection((HOST, service.port), timeout=60) as sock:
            try:
                sock.sendall(SIGN_UP + b"Content-Length: %d\r\n\r\n" % size)
                chunk = b"x" * 65536
                for offset in range(0, size, len(chunk)):
                    sock.sendall(chunk[: size - offset])
            except (BrokenPipeError, ConnectionResetError) as error:
                answers.append(f"<send failed: {error!r}>".encode())
                return
            answers.append(read_to_close(sock))

    sizes = [random.randint(2, 20) * MiB for _ in range(24)]  # noqa: S311 - sizes, not secrets
    threads = [threading.Thread(target=send_big, args=(size,)) for size in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == len(sizes)
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        _, body = status_and_body(answer)
        assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"
        assert b"\r\nconnection: close\r\n" in answer.partition(b"\r\n\r\n")[0].lower() + b"\r\n"


@pytest.mark.parametrize(
    ("path", "status"),
    [("/healthz", 200), ("/api/v1/concerts", 200), ("/api/v1/users/me", 401), ("/api/v1/auth/token", 405)],
)
def test_head_answers_as_get_without_a_body(service: ServiceUnderTest, path: str, status: int) -> None:
    request = f"{{}} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    got = exchange(service.port, request.format("GET").encode())
    head = exchange(service.port, request.format("HEAD").encode())
    head_status, head_body = status_and_body(head)
    assert head_status == status, head[:300]
    assert head_body == b""  # nothing after the headers
    if status != 405:
        assert status_and_body(got)[0] == status

        def length(answer: bytes) -> bytes:
            [value] = [
                line.split(b":", 1)[1].strip()
                for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            return value

        assert length(head) == length(got)


def test_options_names_head_beside_get(service: ServiceUnderTest) -> None:
    answer = exchange(service.port, b"OPTIONS /api/v1/concerts HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    allow = [line for line in answer.split(b"\r\n") if line.lower().startswith(b"allow:")]
    assert allow and b"HEAD" in allow[0] and b"GET" in allow[0], answer[:300]


def test_an_idle_kept_alive_connection_and_slow_headers_are_closed(service: ServiceUnderTest) -> None:
    """After TICKETING_HTTP_IDLE_TIMEOUT_SECONDS (1 s here) the server closes the connection: the
    read ends (b"") well before the socket's own 30 s timeout would fail the test."""
    with socket.create_connection((HOST, service.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        # The answer, then nothing more, and the connection closed.
        received = read_to_close(sock).removesuffix(b"<reset>")
        assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b'{"status":"ok"}'), received
    with socket.create_connection((HOST, service.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # headers that never finish
        assert read_to_close(sock).removesuffix(b"<reset>") == b""
