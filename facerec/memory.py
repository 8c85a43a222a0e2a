"""Keep long runs (album tagging, video) from holding on to memory they no longer use.

Photos are decoded into big arrays (a 12 MP photo is 36 MB) by several threads at once. glibc's malloc
serves such blocks with mmap at first, but after the first one is freed it raises its mmap threshold to
that size (up to 32 MB), and from then on big blocks come from per-thread heaps, where a freed block
between two live ones cannot go back to the system: RSS climbs with the photo sizes and threads seen.
Measured with `scripts/bench_memory.py` (500 photos of ../shared/faces, 2 worker threads): the process
grew to ~1,500 MB; with the threshold fixed at 1 MB, ~950 MB, flat after the first pass over the photos.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
BIG_BLOCK_BYTES = 1 << 20  # blocks from this size on are mmapped and returned to the system when freed
_done = False


def return_big_blocks_to_the_system() -> bool:
    """Fix glibc's mmap threshold at BIG_BLOCK_BYTES (once per process) and give back what the heaps hold
    free now (what was decoded before, e.g. while enrolling); False where there is no glibc."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, BIG_BLOCK_BYTES))
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    _done = ok
    if not ok:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; memory use may grow with photo sizes")
    return ok
