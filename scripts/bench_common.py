"""Helpers shared by the benchmark scripts (imported as `bench_common`: scripts/ is on sys.path when they run)."""
from __future__ import annotations

from pathlib import Path


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux /proc; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
