"""The append-only action log of an incident: `<store>/actions/<incident>.ndjson`.

Every API call `--execute` makes is one line (request, response or error), and every step's
outcome another (`result`: done, already-done, failed, skipped). Lines are only ever appended
and flushed to disk before the next call, so after a crash the log still says what AWS was
asked and what it answered; it is also how a re-run knows which steps are finished, and what a
responder hands over to show what was changed, when, and by whom.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from trailhound.errors import StoreError

DONE_RESULTS = frozenset({"done", "already-done"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ActionLog:
    path: Path
    incident: str

    @classmethod
    def for_incident(cls, store_root: Path, incident: str) -> ActionLog:
        if not _SAFE_ID.match(incident):
            raise StoreError(f"incident id {incident!r} cannot name a file")
        return cls(Path(store_root) / "actions" / f"{incident}.ndjson", incident)

    def entries(self) -> list[dict[str, Any]]:
        """Every line so far; a torn last line (crash mid-write) is skipped, not fatal."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
        return out

    def step_results(self) -> dict[str, dict[str, Any]]:
        """The last outcome line of every step."""
        last: dict[str, dict[str, Any]] = {}
        for e in self.entries():
            if e.get("kind") == "step":
                last[e["step"]] = e
        return last

    def done(self) -> dict[str, str]:
        """step id -> time it was done (first time it reached done or already-done)."""
        out: dict[str, str] = {}
        for e in self.entries():
            if e.get("kind") == "step" and e.get("result") in DONE_RESULTS:
                out.setdefault(e["step"], e["time"])
        return out

    def first_request(self, step: str, operation: str) -> dict[str, Any] | None:
        """The first `operation` request logged for `step` (to reuse its parameters on a
        re-run, e.g. the revoke time, so a re-run does not move it)."""
        for e in self.entries():
            if (e.get("kind") == "call" and e.get("step") == step
                    and (e.get("request") or {}).get("operation") == operation):
                return e.get("request")
        return None

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        rec = {"time": now_iso(), "incident": self.incident, **entry}
        data = orjson.dumps(rec, default=_default) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise StoreError(f"cannot append to the action log ({e.strerror})",
                             location=str(self.path)) from None
        return rec

    def call(self, step: str, request: dict[str, Any], *, response: Any = None,
             error: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.append({"kind": "call", "step": step, "request": request,
                            "response": response, "error": error,
                            "result": "error" if error else "ok"})

    def outcome(self, step: str, result: str, *, detail: str = "",
                actor: str | None = None) -> dict[str, Any]:
        return self.append({"kind": "step", "step": step, "result": result,
                            "detail": detail, "actor": actor})


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(obj, bytes | bytearray):
        return obj.decode("utf-8", "replace")
    raise TypeError(type(obj).__name__)
