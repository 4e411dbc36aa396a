"""The detection interval, rendered into SQL as timestamp literals.

Bounds come from `datetime` objects the caller passed (never from a log), formatted by us, so
they are safe to put into SQL text; rules that need history (first-seen, baselines) read
before `since` on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def ts_sql(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{t.isoformat(sep=' ', timespec='microseconds')}'"


@dataclass(frozen=True)
class TimeRange:
    since: datetime | None = None
    until: datetime | None = None

    def where(self, column: str = "event_time", *, lookback_seconds: int = 0) -> str:
        """Predicate for the interval, widened backwards by `lookback_seconds`."""
        parts = []
        if self.since is not None:
            parts.append(f"{column} >= {ts_sql(self.since - timedelta(seconds=lookback_seconds))}")
        if self.until is not None:
            parts.append(f"{column} < {ts_sql(self.until)}")
        return " AND ".join(parts) if parts else "true"

    def detect_where(self, column: str = "event_time") -> str:
        return self.where(column)


ALL_TIME = TimeRange()
