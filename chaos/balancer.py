"""HAProxy in front of the API nodes, the balancer of both harnesses (``make chaos``, ``make
cluster``): Debian's package, in a process of its own, so that the harness's event loop (its
fans, its fault proxies) never carries the fans' traffic to the nodes.

Round robin per request, a health check on ``/healthz`` (docs/operations.md), a node that
refuses or dies under a request retried on another (redispatch), ``X-Forwarded-For`` for the
rate limits (the nodes trust 127.0.0.1 as a proxy), and ``X-Served-By`` naming the node that
answered. An answer without that header was made by HAProxy itself (no node could answer:
``generated_by_balancer``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

HOST = "127.0.0.1"
SERVED_BY = "X-Served-By"


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (str(p) for p in (Path("/usr/sbin/haproxy"), Path("/usr/bin/haproxy")) if p.exists()), None
    )


def haproxy_config(
    port: int, nodes: list[int], *, stats_port: int | None = None, log_every_request: bool = True
) -> str:
    """``log_every_request``: one log line per request; else only the abnormal ones (a 5xx, a
    connection that failed or was cut), as a harness that counts its own answers needs."""
    servers = "\n".join(
        f"    server node{i} {HOST}:{node_port} check inter 1s fall 2 rise 1" for i, node_port in enumerate(nodes, 1)
    )
    quiet = "" if log_every_request else "    option dontlog-normal\n"
    stats = (
        ""
        if stats_port is None
        else f"""
listen stats
    bind {HOST}:{stats_port}
    stats enable
    stats uri /
    stats refresh 2s
"""
    )
    return f"""global
    maxconn 4000
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
{quiet}    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend fans
    bind {HOST}:{port}
    option forwardfor
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    # A node that dies takes a moment to be marked down (two failed checks, 1 s apart): a request
    # sent to it meanwhile goes to another node, whether the connection was refused or the node
    # died with it (empty response). The service answers a repeated write like the first one
    # (Idempotency-Key for payments and charges; a repeated hold finds the seat held).
    retries 2
    retry-on conn-failure empty-response
    option redispatch 1
    http-response set-header {SERVED_BY} %s
{servers}
{stats}"""


def haproxy_command(
    config_path: Path, port: int, nodes: list[int], *, stats_port: int | None = None, log_every_request: bool = True
) -> list[str]:
    """Write the configuration, have HAProxy check it, and return the command that runs it in the
    foreground (``-db``; the caller spawns it, with its log). Raises when HAProxy is missing
    (``make chaos`` / ``make cluster`` install Debian's package) or refuses the configuration."""
    haproxy = haproxy_binary()
    if haproxy is None:
        raise RuntimeError("HAProxy is needed (Debian package haproxy: make chaos and make cluster install it)")
    config_path.write_text(haproxy_config(port, nodes, stats_port=stats_port, log_every_request=log_every_request))
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config_path)], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy refused its configuration: {check.stderr.strip()}")
    return [haproxy, "-f", str(config_path), "-db"]


def generated_by_balancer(response: httpx.Response) -> bool:
    """An error HAProxy answered itself because no node could (502: the node died under the
    request, 503: none is up, 504: none answered in time): not an answer of the service."""
    return response.status_code >= 500 and SERVED_BY not in response.headers
