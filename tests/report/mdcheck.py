"""Structure checks on Markdown source that renderers would hide (they drop or pad cells)."""

from __future__ import annotations

import re


def table_cell_counts(markdown: str) -> list[set[int]]:
    """For each table, the set of cell counts of its rows (one element when intact)."""
    tables: list[list[str]] = []
    prev = False
    for line in markdown.splitlines():
        row = line.startswith("|")
        if row and not prev:
            tables.append([])
        if row:
            tables[-1].append(line)
        prev = row
    return [{len(re.findall(r"(?<!\\)\|", r)) - 1 for r in t} for t in tables]
