"""The simulated organisation and attack: labelled CloudTrail in AWS's own S3 layout.

`generate()` writes a corpus and its `truth.json`; `verify()` checks a corpus against the
layout, the record shapes and its own truth. Used by `trailhound simulate`, the demo, tests and
benchmarks.
"""

from trailhound.simulate.attacks import SCENARIOS
from trailhound.simulate.corpus import DEFAULT_EVENTS_PER_DAY, DEFAULT_START, generate
from trailhound.simulate.truth import STAGES, Truth
from trailhound.simulate.verify import verify

__all__ = ["DEFAULT_EVENTS_PER_DAY", "DEFAULT_START", "SCENARIOS", "STAGES", "Truth",
           "generate", "verify"]
