"""The one rule for long-running camera loops (`facerec serve`'s cameras, `facerec webcam` on a live source):
any error is logged once per kind (with its traceback), counted, and the loop starts again after a backoff —
1 s, doubling to 60 s, back to 1 s once a run lasted a minute without an error."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any

RESTART_MIN_S, RESTART_MAX_S = 1.0, 60.0
HEALTHY_RUN_S = 60.0  # a run this long without an error starts the backoff over


class Restarts:
    def __init__(self, what: str, logger: logging.Logger | None = None, traceback: bool = True):
        self.what = what  # "live view door", "facerec webcam": how the log names the loop
        self.log = logger or logging.getLogger(__name__)
        self.traceback = traceback  # the first error of each kind logged with its traceback
        self.errors: Counter = Counter()  # exception kind -> how many times
        self.count = 0  # restarts so far
        self.last_error: str | None = None
        self._backoff = RESTART_MIN_S

    def failed(self, error: BaseException, ran_s: float) -> float:
        """Record `error` (the run before it lasted `ran_s`); returns the seconds to wait before the restart."""
        kind = type(error).__name__
        self.errors[kind] += 1
        self.last_error = f"{kind}: {error}"
        if self.errors[kind] == 1:
            self.log.error("%s failed (%s); restarting", self.what, kind, exc_info=error if self.traceback else None)
        else:
            self.log.debug("%s failed again (%s x%d)", self.what, kind, self.errors[kind])
        if ran_s >= HEALTHY_RUN_S:
            self._backoff = RESTART_MIN_S
        delay = self._backoff
        self._backoff = min(RESTART_MAX_S, self._backoff * 2)
        self.count += 1
        return delay

    def to_dict(self) -> dict[str, Any]:
        return {"restarts": self.count, "errors": dict(self.errors), "last_error": self.last_error}
