"""JSON-lines logging, and a limiter so one noisy node cannot flood the log."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

# LogRecord attributes that are not extra fields
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one line of JSON."""
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | str | bool) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or ``stream``) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


class RateLimiter:
    """Allows one event per key per interval; counts what it suppressed.

    Memory is bounded: past ``max_keys`` keys, entries older than the interval
    are forgotten (and if all are recent, the whole table is reset).
    """

    def __init__(
        self,
        *,
        interval_s: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.max_keys = max_keys
        self.clock = clock
        self._last: dict[object, float] = {}
        self.suppressed = 0

    def allow(self, key: object) -> bool:
        """True when ``key`` has not been allowed within the interval."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self.suppressed += 1
            return False
        if len(self._last) >= self.max_keys:
            horizon = now - self.interval_s
            self._last = {k: t for k, t in self._last.items() if t > horizon}
            if len(self._last) >= self.max_keys:
                self._last.clear()
        self._last[key] = now
        return True
