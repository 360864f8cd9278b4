"""Per-route request counts and latencies for Prometheus (exported at ``/metrics``).

Counted in plain Python numbers per process, not with prometheus_client's ``Counter`` and
``Histogram``: in multiprocess mode every ``inc()`` / ``observe()`` of those takes a lock, makes a
``getpid`` system call and writes the mmap'd file, three times per request (count, latency sum,
latency bucket). Here a request adds to a few numbers; what changed is written to this process's
multiprocess files once per event-loop iteration (one batch for every request answered in that
iteration, so the files trail the answers by microseconds and ``/metrics`` still sums every
worker). Without ``PROMETHEUS_MULTIPROC_DIR`` a collector on the default registry reads the numbers
directly.

The series are the ones the prometheus_client metrics had: ``ticketing_requests_total`` and the
``ticketing_request_duration_seconds`` histogram, labelled by method, route template and status.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.utils import floatToGoString

REQUESTS = "ticketing_requests"  # exported as ticketing_requests_total
REQUESTS_HELP = "HTTP requests answered"
LATENCY = "ticketing_request_duration_seconds"
LATENCY_HELP = "Time to answer an HTTP request"
LABELS = ("method", "path", "status_code")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LE = (*(floatToGoString(b) for b in BUCKETS), "+Inf")  # type: ignore[no-untyped-call]


class _Series:
    """One (method, route, status): its count, latency sum and per-bucket (not cumulative)
    latency counts, plus what was last written to the multiprocess files."""

    __slots__ = ("buckets", "count", "dirty", "keys", "labels", "total", "written")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(_LE)
        self.dirty = False
        self.keys: tuple[str, str, list[str]] | None = None
        self.written = [0] * len(_LE)


_series: dict[tuple[str, str, int], _Series] = {}
_dirty: list[_Series] = []
_MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def record_request(method: str, path_template: str, status: int, seconds: float) -> None:
    key = (method, path_template, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = _Series((method, path_template, str(status)))
    series.count += 1
    series.total += seconds
    series.buckets[bisect_left(BUCKETS, seconds)] += 1
    if _MULTIPROCESS_DIR is not None and not series.dirty:
        series.dirty = True
        _dirty.append(series)
        if len(_dirty) == 1:
            _schedule_flush()


def _schedule_flush() -> None:
    try:
        asyncio.get_running_loop().call_soon(flush)
    except RuntimeError:  # no event loop (a script): write at once
        flush()


class _Files:
    """This process's two multiprocess files (prometheus_client's format and naming: the type
    first, the pid last), opened on the first write after the worker started."""

    def __init__(self, directory: str, pid: int) -> None:
        self.pid = pid
        self.counters = MmapedDict(os.path.join(directory, f"counter_ticketing-http_{pid}.db"))  # type: ignore[no-untyped-call]
        self.histograms = MmapedDict(os.path.join(directory, f"histogram_ticketing-http_{pid}.db"))  # type: ignore[no-untyped-call]


_open_files: list[_Files] = []  # none until the first flush of this process


def flush() -> None:
    """Write every series changed since the last flush to this process's multiprocess files
    (absolute values: a failed write is made good by the next one)."""
    if not _dirty or _MULTIPROCESS_DIR is None:
        return
    batch = _dirty[:]
    _dirty.clear()
    for series in batch:
        series.dirty = False
    pid = os.getpid()
    if not _open_files or _open_files[0].pid != pid:
        _open_files[:] = [_Files(_MULTIPROCESS_DIR, pid)]
    counters, histograms = _open_files[0].counters, _open_files[0].histograms
    for series in batch:
        keys = series.keys
        if keys is None:
            keys = series.keys = _file_keys(series.labels)
        counters.write_value(keys[0], series.count, 0.0)  # type: ignore[no-untyped-call]
        histograms.write_value(keys[1], series.total, 0.0)  # type: ignore[no-untyped-call]
        buckets, written = series.buckets, series.written
        for i, value in enumerate(buckets):
            if value != written[i]:
                histograms.write_value(keys[2][i], value, 0.0)  # type: ignore[no-untyped-call]
                written[i] = value


def _file_keys(labels: tuple[str, str, str]) -> tuple[str, str, list[str]]:
    """The keys prometheus_client's own Counter and Histogram would write these samples under."""
    values = list(labels)
    return (
        mmap_key(REQUESTS, REQUESTS + "_total", list(LABELS), values, REQUESTS_HELP),
        mmap_key(LATENCY, LATENCY + "_sum", list(LABELS), values, LATENCY_HELP),
        [mmap_key(LATENCY, LATENCY + "_bucket", [*LABELS, "le"], [*values, le], LATENCY_HELP) for le in _LE],
    )


def _after_fork_in_child() -> None:
    """A forked worker starts from zero: what the parent counted is the parent's."""
    _series.clear()
    _dirty.clear()
    _open_files.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _RequestCollector:
    """The series for the default registry (single-process mode: tests, ``granian`` run by hand)."""

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(REQUESTS, REQUESTS_HELP, labels=LABELS)
        latency = HistogramMetricFamily(LATENCY, LATENCY_HELP, labels=LABELS)
        for series in list(_series.values()):
            requests.add_metric(series.labels, series.count)
            cumulative, buckets = 0, []
            for le, value in zip(_LE, series.buckets, strict=True):
                cumulative += value
                buckets.append((le, cumulative))
            latency.add_metric(series.labels, buckets, series.total)
        yield requests
        yield latency

    def describe(self) -> list[Any]:
        return []


if _MULTIPROCESS_DIR is None:
    REGISTRY.register(_RequestCollector())
