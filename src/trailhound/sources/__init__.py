"""Readers of log objects: they find objects and hand over their bytes, knowing nothing of rules.

A `SourceObject` is one log object (a local file, later an S3 object) with a stable identity
for the manifest (`name` + `version`) and a `read()` that returns its stored bytes. Decoding
those bytes into records is `decode.py`'s job, so every reader shares one set of format rules.
"""

from trailhound.sources.base import SourceObject, discover

__all__ = ["SourceObject", "discover"]
