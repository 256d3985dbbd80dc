"""The CPU seqgen runs on: how many threads to use, and noticing when another process takes the cores.

Why the thread count matters: when another process keeps one core busy, two-thread torch collapses
(steps 20-40× slower, each thread waits for the other at every barrier) while one thread only slows to
its share of a core. So the default is one thread per physical core this process may use, never more.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

_SYS_CPU = Path("/sys/devices/system/cpu")
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def allowed_cpus() -> set[int]:
    """Logical CPUs this process may run on (its affinity mask: taskset, cpusets, containers)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return set(range(os.cpu_count() or 1))


def _core_of(cpu: int) -> tuple[str, str] | None:
    """(package, core) of a logical CPU from Linux sysfs; None where sysfs does not say."""
    topo = _SYS_CPU / f"cpu{cpu}" / "topology"
    try:
        return (topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()
    except OSError:
        return None


def _cgroup_quota(path: Path = _CGROUP_CPU_MAX) -> int | None:
    """CPUs a cgroup v2 quota allows ('200000 100000' -> 2), or None when unlimited or unknown."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def _sysctl_int(name: str) -> int | None:
    """An integer from macOS's sysctl (None elsewhere, or when it cannot say)."""
    if sys.platform != "darwin":
        return None
    try:
        return int(subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def physical_cores() -> int:
    """Physical cores this process may use: allowed CPUs with hyper-threads folded, capped by a cgroup quota."""
    cpus = allowed_cpus()
    cores = {_core_of(c) for c in cpus}
    count = len(cores) if None not in cores else len(cpus)
    if None in cores:  # no sysfs topology (macOS): scale by the physical/logical ratio sysctl reports
        physical, logical = _sysctl_int("hw.physicalcpu"), _sysctl_int("hw.logicalcpu")
        if physical and logical:
            count = max(1, len(cpus) * physical // logical)
    quota = _cgroup_quota()
    return max(1, min(count, quota) if quota else count)


def default_threads() -> int | None:
    """Threads for torch when --threads is not given; None leaves torch's own choice.

    OMP_NUM_THREADS wins (torchrun sets it to 1 per process); several processes on one machine
    (LOCAL_WORLD_SIZE, set by torchrun) share its physical cores.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    per_machine = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, physical_cores() // per_machine)


class ThroughputWatch:
    """Says when training throughput collapses: a rate far below this run's median so far.

    Fed one tokens/s figure per metrics row; the first `warmup` rows (start-up, caches) only set the
    baseline. Warns once when the rate falls under `collapse` × median, and again only after it has
    come back above `recover` × median.
    """

    def __init__(self, threads: int, collapse: float = 0.5, recover: float = 0.8, warmup: int = 2):
        self.threads, self.collapse, self.recover, self.warmup = threads, collapse, recover, warmup
        self.rates: list[float] = []
        self.collapsed = False

    def add(self, rate: float) -> str | None:
        """Record one interval's tokens/s; returns a warning when throughput has just collapsed."""
        seen = self.rates[self.warmup :]
        median = statistics.median(seen) if seen else None
        self.rates.append(rate)
        if median is None or median <= 0:
            return None
        ratio = rate / median
        if self.collapsed:
            self.collapsed = ratio < self.recover
            return None
        if ratio >= self.collapse:
            return None
        self.collapsed = True
        hint = "; try --threads 1" if self.threads > 1 else ""
        return (
            f"warning: throughput fell to {ratio:.0%} of this run's median ({rate:,.0f} vs {median:,.0f} tokens/s) — "
            f"another process may be using the CPU{hint}"
        )
