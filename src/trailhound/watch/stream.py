"""Where the watch's findings go: one NDJSON line each, on stdout, appended to
`<out>/stream.ndjson`, and piped to `--exec` (a pager script, a ticketing CLI).

Lines are JSON (orjson), so log values in them are escaped by construction; the command gets
the line on its standard input, never on its command line, and runs without a shell.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from trailhound.errors import UsageError
from trailhound.termsafe import json_bytes

EXEC_TIMEOUT = 60.0


class Stream:
    def __init__(self, out: Path | None, *, exec_cmd: str | None = None,
                 stdout: TextIO | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(out) / "stream.ndjson" if out else None
        self.stdout = stdout if stdout is not None else sys.stdout
        self.warn = warn or (lambda m: print(m, file=sys.stderr))
        self.argv: list[str] | None = None
        if exec_cmd:
            try:
                self.argv = shlex.split(exec_cmd)
            except ValueError as e:
                raise UsageError(f"--exec: cannot parse command ({e})") from None
            if not self.argv:
                raise UsageError("--exec: empty command")
        self.lines = 0

    def emit(self, record: dict[str, Any]) -> None:
        line = json_bytes(record).decode()
        if self.path is not None:
            # Appended and flushed line by line: a reader tailing the file (or a crash right
            # after) never sees half a line.
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        self.stdout.write(line + "\n")
        self.stdout.flush()
        self.lines += 1
        if self.argv:
            self._exec(line)

    def _exec(self, line: str) -> None:
        assert self.argv is not None
        try:
            done = subprocess.run(self.argv, input=(line + "\n").encode(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=EXEC_TIMEOUT, check=False)
        except FileNotFoundError:
            self.warn(f"--exec: command not found: {self.argv[0]}")
            return
        except subprocess.TimeoutExpired:
            self.warn(f"--exec: {self.argv[0]} did not finish in {EXEC_TIMEOUT:.0f} s")
            return
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            self.warn(f"--exec: {self.argv[0]} exited {done.returncode}"
                      + (f": {err[-1][:200]}" if err else ""))
