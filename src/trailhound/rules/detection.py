"""Sigma detection blocks -> SQL boolean expressions, shared by every rule kind.

Own kinds select their events with the same `detection:` syntax as Sigma (selections, lists,
modifiers, a condition), so there is one matching language and one tested compiler. A bare
mapping without `condition` is taken as a single selection.
"""

from __future__ import annotations

from typing import Any

from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from trailhound.errors import RuleError
from trailhound.rules.pipeline import FieldMap, cloudtrail_field_map
from trailhound.rules.sigma_backend import DuckDBBackend

_LOGSOURCE = {"product": "aws", "service": "cloudtrail"}
_FIELD_MAP: dict[str, FieldMap] = {}


def default_field_map() -> FieldMap:
    if "default" not in _FIELD_MAP:
        _FIELD_MAP["default"] = cloudtrail_field_map()
    return _FIELD_MAP["default"]


def sigma_where(rule: SigmaRule, field_map: FieldMap | None = None) -> tuple[str, set[str]]:
    """The rule's detection as one SQL boolean, and the Sigma fields it reads."""
    backend = DuckDBBackend(field_map or default_field_map())
    try:
        queries = backend.convert_rule(rule)
    except SigmaError as e:
        raise RuleError(f"cannot compile: {e}") from None
    except NotImplementedError as e:
        raise RuleError(f"not supported by the DuckDB backend: {e}") from None
    if len(queries) != 1 or not isinstance(queries[0], str):
        raise RuleError(f"compiles to {len(queries)} queries; one was expected")
    return queries[0], backend.fields_used


def detection_where(detection: Any, *, what: str = "select",
                    field_map: FieldMap | None = None) -> str:
    """SQL boolean for a Sigma detection block written inside an own rule."""
    if detection is None:
        return "true"
    if not isinstance(detection, dict) or not detection:
        raise RuleError(f"{what}: expected a Sigma detection mapping")
    det = dict(detection)
    if "condition" not in det:
        det = {"selection": det, "condition": "selection"}
    try:
        rule = SigmaRule.from_dict({"title": what, "logsource": _LOGSOURCE, "detection": det})
    except SigmaError as e:
        raise RuleError(f"{what}: {e}") from None
    return sigma_where(rule, field_map)[0]
