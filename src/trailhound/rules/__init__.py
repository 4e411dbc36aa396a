"""Detection: rules as data (Sigma and trailhound's own kinds) compiled to SQL over the store.

Public API (used by the CLI and by correlation):

    ruleset = load_rules([Path("my-rules/")], overrides=Path("tuning.yml"))
    result = detect(store.connect(), ruleset, since=..., until=...)
    result.alerts, result.skipped, result.timings

On DuckDB an alert's `event_ids` are read from that connection (`alert_ids.StoredIds`): read
them, or write the alerts out, before closing it.
"""

from trailhound.rules.loader import load_rules
from trailhound.rules.model import Alert, DetectResult, Rule, RuleSet
from trailhound.rules.run import detect

__all__ = ["Alert", "DetectResult", "Rule", "RuleSet", "detect", "load_rules"]
