"""Continuous hunting: `trailhound watch` polls a trail, ingests what is new, re-runs the
rules over the span the new events can change (their state carried between polls, not
recomputed from all history) and emits each new or escalated incident and each new high
alert as one NDJSON line.

    watcher = Watcher(WatchConfig(store=..., source="s3://trail/AWSLogs/"), ruleset, Stream(out))
    watcher.run()
"""

from trailhound.watch.loop import WatchConfig, Watcher, WatchSummary, install_signal_handlers
from trailhound.watch.replay import Replay, parse_speed
from trailhound.watch.state import WatchState
from trailhound.watch.stream import Stream

__all__ = ["Replay", "Stream", "WatchConfig", "WatchState", "WatchSummary", "Watcher",
           "install_signal_handlers", "parse_speed"]
