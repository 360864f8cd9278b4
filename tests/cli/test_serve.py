"""``ticketing serve`` as deployed: granian with several worker processes."""

from __future__ import annotations

import re

import httpx
from bench.server import HOST, ServiceUnderTest

from ticketing.config import Settings


def test_metrics_count_the_requests_of_every_worker(settings: Settings, clean: None) -> None:
    service = ServiceUnderTest(settings.database_url or "", settings.redis_url or "", settings.data_dir)
    service.start(workers=2)
    try:
        base = f"http://{HOST}:{service.port}"
        for _ in range(40):  # a new connection each: the kernel spreads them over both workers
            with httpx.Client() as client:
                assert client.get(f"{base}/healthz").status_code == 200
        metrics = httpx.get(f"{base}/metrics").text
    finally:
        service.stop()
    counted = re.search(r'ticketing_requests_total\{method="GET",path="/healthz",status_code="200"\} (\S+)', metrics)
    assert counted is not None, metrics
    assert float(counted.group(1)) == 40
