"""Replay a finished corpus in delivery order, as a trail being written to S3.

CloudTrail names each log file with the minute it was delivered
(`<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz`); the replay copies files into
an inbox folder when a simulated clock passes that minute, and the watch polls the inbox.
Files without such a stamp (exports, NDJSON) are delivered with the first poll.
The clock runs `speed` times faster than real time; speed 0 means as fast as the polls go.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from trailhound.errors import UsageError

# Log files end `_<YYYYMMDDTHHMMZ>_<id>.json.gz`, digests `_<YYYYMMDDTHHMMSSZ>.json.gz`.
_STAMP = re.compile(r"_(\d{8}T\d{4}(?:\d{2})?Z)(?=[_.])")
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x?\s*$", re.IGNORECASE)


def parse_speed(text: str) -> float:
    """`3600x`, `60`, `max` (or 0): simulated seconds per real second."""
    if text.strip().lower() in ("max", "0", "0x"):
        return 0.0
    m = _SPEED.match(text)
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"--speed: expected e.g. 3600x, 60 or max, not {text!r}")
    return float(m.group(1))


def delivered_at(path: Path) -> datetime | None:
    """The delivery time in a CloudTrail file name, or None for a name without one."""
    m = _STAMP.search(path.name)
    if not m:
        return None
    s = m.group(1)
    return datetime.strptime(s, "%Y%m%dT%H%M%SZ" if len(s) == 16 else "%Y%m%dT%H%MZ")


@dataclass
class Replay:
    corpus: Path
    inbox: Path
    speed: float
    start: datetime | None = None  # files due before it arrive at once, with the first poll
    schedule: list[tuple[datetime, Path]] = field(default_factory=list)
    delivered: int = 0
    clock: datetime | None = None
    _started: float = 0.0
    _origin: datetime | None = None

    def __post_init__(self) -> None:
        if not self.corpus.is_dir():
            raise UsageError(f"--replay: {self.corpus} is not a folder")
        # A corpus in AWS's layout replays its AWSLogs/ tree only (not the simulator's
        # truth.json beside it); any other folder replays every file in it.
        top = self.corpus / "AWSLogs"
        root = top if top.is_dir() else self.corpus
        files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
        stamped = [(delivered_at(p), p) for p in files]
        if not stamped:
            raise UsageError(f"--replay: no log files under {self.corpus}")
        # Files without a delivery stamp (exports, NDJSON) were there from the start.
        first = min((t for t, _ in stamped if t is not None), default=datetime(1970, 1, 1))
        self.schedule = sorted((t or first, p) for t, p in stamped)
        self.inbox.mkdir(parents=True, exist_ok=True)

    @property
    def done(self) -> bool:
        return self.delivered >= len(self.schedule)

    def begin(self) -> None:
        self._origin = max(self.schedule[0][0], self.start or self.schedule[0][0])
        self.clock = self._origin
        self._started = time.monotonic()

    def ticks(self, interval: timedelta) -> Iterator[datetime]:
        """The simulated times at which the watch polls, one interval apart, until every file
        is delivered; sleeps so that simulated time runs at `speed`."""
        self.begin()
        assert self._origin is not None
        n = 0
        while True:
            t = self._origin + n * interval
            if self.speed > 0:
                due = self._started + (t - self._origin).total_seconds() / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            self.clock = t
            yield t
            if self.done:
                return
            n += 1

    def deliver_until(self, t: datetime) -> int:
        """Copy every file due by `t` into the inbox (atomically: a poll never sees half a
        file). Returns how many were delivered."""
        count = 0
        while not self.done and self.schedule[self.delivered][0] <= t:
            _, src = self.schedule[self.delivered]
            rel = src.relative_to(self.corpus)
            dst = self.inbox / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name("." + dst.name + ".part")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            self.delivered += 1
            count += 1
        return count

    def file_of(self, source_object: str) -> datetime | None:
        """When the file an event came from was delivered (by its name)."""
        return delivered_at(Path(source_object))
