"""CPU seconds each part of the run used over a phase (the service, the harness, PostgreSQL,
Valkey, HAProxy), read from the kernel's per-process counters.

On a shared machine the wall clock says how busy the neighbours were; CPU time says what the
run itself cost. A phase that needed many seconds of wall time for few seconds of CPU was
starved, not slow, and the report says so beside each scenario.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import psutil

# pid -> (the part it belongs to, its CPU seconds so far)
Sample = dict[int, tuple[str, float]]


def sample(parts: dict[str, list[psutil.Process]]) -> Sample:
    taken: Sample = {}
    for part, processes in parts.items():
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                taken[proc.pid] = (part, times.user + times.system)
    return taken


def used(before: Sample, after: Sample) -> dict[str, float]:
    """CPU seconds per part between two samples: the whole of a process started in between (a
    node restarted), nothing of one that ended in between (a worker killed: its counters went
    with it), so the figures are a floor."""
    spent: dict[str, float] = defaultdict(float)
    for pid, (part, seconds) in after.items():
        earlier = before.get(pid)
        spent[part] += seconds - earlier[1] if earlier is not None and earlier[0] == part else seconds
    return dict(spent)
