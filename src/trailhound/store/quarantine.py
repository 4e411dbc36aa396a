"""What the quarantine holds, per access key: records refused and records repaired.

A responder must know when part of a key's activity is missing from (or altered in) the
analysis: "no object was read" and "the records of the reads could not be loaded" are not
the same answer. The quarantine keeps each record's original text; the key is found in it by
pattern, since a record is there precisely because it may not parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from trailhound.sources.decode import REPAIRED
from trailhound.store.engine import Store

_KEY = re.compile(r'"accessKeyId"\s*:\s*"([A-Za-z0-9]{16,128})"')
_DUPLICATE = "same eventID "  # a second copy dropped: the first copy is loaded


@dataclass
class KeyDamage:
    refused: int = 0  # records quarantined: not in the analysis
    repaired: int = 0  # loaded with a field replaced


def damage_by_key(store: Store) -> dict[str, KeyDamage]:
    out: dict[str, KeyDamage] = {}
    folder = store.quarantine_dir / "records"
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.ndjson")):
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                reason = str(entry.get("reason") or "")
                if reason.startswith(_DUPLICATE):
                    continue
                m = _KEY.search(str(entry.get("record") or ""))
                if m is None:
                    continue
                d = out.setdefault(m.group(1), KeyDamage())
                if reason.startswith(REPAIRED):
                    d.repaired += 1
                else:
                    d.refused += 1
    return out


def damage_warnings(keys: list[str], damage: dict[str, KeyDamage]) -> list[str]:
    """The incident's warnings for its keys' quarantined and repaired records."""
    out: list[str] = []
    for k in keys:
        d = damage.get(k)
        if d is None:
            continue
        if d.refused:
            out.append(f"{d.refused:,} records of {k}'s activity could not be read and are "
                       "not in this analysis (the store's quarantine/ keeps them): what they "
                       "did is missing from this incident's events, bytes and stages.")
        if d.repaired:
            out.append(f"{d.repaired:,} records of {k}'s activity held unreadable or "
                       "impossible values (text no parser accepts, an impossible size, an "
                       "oversized user agent); those fields were replaced and the records "
                       "loaded. The originals are in the store's quarantine/.")
    return out
