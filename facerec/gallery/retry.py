"""Retry with backoff: long-running loops (the server's tag jobs, the live view, camera loops) outlive a gallery that
another process holds locked or that is briefly unreadable, instead of dying on the first error.

    from facerec.gallery.retry import Backoff, retry_transient

    summary = retry_transient(lambda: tag_album(...), what="tag job 3", on_retry=report, stop=stopping)

`is_transient` says which errors may go away by themselves (SQLite busy/locked, I/O error, cannot open, not a
database: a file being replaced or restored); anything else is raised at once, and so is the last transient error
once the attempts are spent, so a loop never hangs on a gallery that stays broken and never dies silently.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLite's primary result codes of errors that may clear up: BUSY, LOCKED, IOERR, CANTOPEN, PROTOCOL, NOTADB
TRANSIENT_SQLITE_CODES = frozenset({5, 6, 10, 14, 15, 26})
TRANSIENT_MESSAGES = ("database is locked", "database table is locked", "disk i/o error", "unable to open database",
                      "locking protocol", "not a database")


def is_transient(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from (a GalleryError wraps SQLite's), may go away by itself."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF in TRANSIENT_SQLITE_CODES
            return any(text in str(error).lower() for text in TRANSIENT_MESSAGES)
        error = error.__cause__ or error.__context__
    return False


@dataclass(frozen=True)
class Backoff:
    """Waits of first_s, first_s * factor, ... capped at max_s, for at most `attempts` tries in all."""

    first_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    attempts: int = 8  # 0.5 + 1 + 2 + 4 + 8 + 16 + 30 s: about a minute before the loop reports a lasting failure

    def delay(self, attempt: int) -> float:
        """The wait after failed try number `attempt` (1-based)."""
        return min(self.max_s, self.first_s * self.factor ** (attempt - 1))


class Stopped(Exception):
    """The loop was asked to stop while it waited to try again."""


def retry_transient(action: Callable[[], T], *, what: str, backoff: Backoff = Backoff(),
                    on_retry: Callable[[int, BaseException, float], None] | None = None,
                    stop: threading.Event | None = None,
                    transient: Callable[[BaseException], bool] = is_transient) -> T:
    """`action()`, tried again after a wait while it fails with a transient error (see `is_transient`).

    on_retry(attempt, error, delay) is called before each wait, so the loop can report that it is retrying and
    why; `stop` cuts a wait short (then Stopped is raised from the last error). A non-transient error, or the
    last one, is raised as it came.
    """
    attempt = 1
    while True:
        try:
            return action()
        except Exception as e:
            if attempt >= backoff.attempts or not transient(e):
                raise
            delay = backoff.delay(attempt)
            log.warning("%s: %s; trying again in %.1f s (attempt %d of %d)", what, e, delay, attempt + 1,
                        backoff.attempts)
            if on_retry is not None:
                on_retry(attempt, e, delay)
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise Stopped(f"{what}: stopped while waiting to try again") from e
        attempt += 1
