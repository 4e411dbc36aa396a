"""The machine a benchmark ran on, and appending its figures to bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def describe() -> str:
    cpu = platform.processor() or platform.machine()
    mem_gb = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    try:
        import duckdb

        engine = f"; DuckDB {duckdb.__version__}"
    except ImportError:
        engine = ""
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}; {os.cpu_count()} CPUs visible; {mem_gb:.0f} GiB RAM; "
            f"Python {platform.python_version()}{engine}; load average {load} at start")


def record(section: str, command: str, lines: list[str]) -> None:
    """Append one dated section with the machine and the exact command to RESULTS.md."""
    with open(RESULTS, "a") as fh:
        fh.write(f"\n## {section}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
                 f"Machine: {describe()}. Command: `{command}`.\n\n```\n"
                 + "\n".join(lines) + "\n```\n")
