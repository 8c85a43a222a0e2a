"""The server's model lock: requests go before camera loops, and nobody waits for ever.

Every model call of the server (requests, tag jobs, camera loops) takes turns on one lock (see
facerec.server.pipelines.LockedPipeline). A plain lock lets whoever wakes first win, so a camera loop that asks
again right after each frame starves requests (measured: recognize p95 199 ms -> 309 ms with one live view).
Here waiters are served in order of arrival within two classes: requests (the default) go before threads that
called `mark_background()` (camera loops), except that a waiting camera loop goes next once BACKGROUND_EVERY
requests went ahead of it, so a busy API slows the cameras down without freezing them.
"""
from __future__ import annotations

import threading
from collections import deque

BACKGROUND_EVERY = 3  # requests served ahead of a waiting camera loop before it gets one turn


class FairModelLock:
    """A re-entrant lock (use it as `with lock:`) with request-first, first-come-first-served turns."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._foreground: deque[object] = deque()
        self._background: deque[object] = deque()
        self._ahead_of_background = 0
        self._local = threading.local()

    def mark_background(self) -> None:
        """The calling thread's turns come after waiting requests (call once, at the start of a camera loop)."""
        self._local.background = True

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            queue = self._background if getattr(self._local, "background", False) else self._foreground
            ticket = object()
            queue.append(ticket)
            while self._owner is not None or self._next() is not ticket:
                self._cond.wait()
            queue.popleft()
            if queue is self._foreground and self._background:
                self._ahead_of_background += 1
            elif queue is self._background:
                self._ahead_of_background = 0
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a FairModelLock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def _next(self) -> object | None:
        if self._background and (not self._foreground or self._ahead_of_background >= BACKGROUND_EVERY):
            return self._background[0]
        return self._foreground[0] if self._foreground else None

    def __enter__(self) -> "FairModelLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
