"""Durations in rule files: `90s`, `10m`, `1h`, `14d`, or a number of seconds."""

from __future__ import annotations

import re

from trailhound.errors import RuleError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")


def seconds(value: object, *, what: str = "duration") -> int:
    if isinstance(value, bool):
        raise RuleError(f"{what}: expected a duration like 10m, 1h, 14d, got {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    m = _RE.match(str(value))
    if not m or int(m.group(1)) <= 0:
        raise RuleError(f"{what}: expected a duration like 10m, 1h, 14d, got {value!r}")
    return int(m.group(1)) * _UNITS[m.group(2) or "s"]
