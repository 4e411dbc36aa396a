"""Rule kinds. Each kind is one module with `validate(spec) -> list[str]` (every problem of a
rule file, not just the first) and `hits_sql(rule, time_range, state) -> str` (one query
returning the events that are evidence, in `HIT_COLUMNS`). Kinds are looked up by name, so a
rule file picks its kind with `kind:` and no Python changes when rules are added."""

from __future__ import annotations

from typing import Any

from trailhound.rules.kinds import first_seen, sequence, sigma_kind, threshold
from trailhound.rules.kinds.common import HIT_COLUMNS, entity_sql

KIND_MODULES: dict[str, Any] = {
    "sigma": sigma_kind,
    "new_terms": first_seen,
    "threshold": threshold,
    "sequence": sequence,
}

__all__ = ["HIT_COLUMNS", "KIND_MODULES", "entity_sql"]
