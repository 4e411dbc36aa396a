"""`truth.json`: what the simulator knows about its own output (schema_version 1).

The labels follow CONTRACT.md's definitions so a hunt's `incidents.json` can be compared field
by field: `objects_read` counts distinct object keys read successfully (GetObject without
`errorCode`), `get_object_events` those events, `bytes_out` sums their
`additionalEventData.bytesTransferredOut` once per `eventID`. `s3_buckets` lists the buckets
with at least one successful attacker GetObject; `account` is the bucket owner (the data
event's `recipientAccountId`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from trailhound.simulate.records import Record

SCHEMA_VERSION = 1
STAGES = ("credential-validation", "discovery", "persistence", "privilege-escalation",
          "lateral-movement", "collection", "exfiltration", "defense-evasion", "impact")


@dataclass
class Truth:
    """The labels of one simulated corpus; `as_dict()` is the content of truth.json."""

    scenario: str
    seed: int
    start: str
    end: str
    accounts: dict[str, str]
    events_total: int
    deliveries_total: int
    duplicate_event_ids: list[str]
    tenants: dict[str, str]
    attack: dict[str, Any] | None
    lookalikes: list[dict[str, Any]]
    schema_version: int = SCHEMA_VERSION
    # Not part of truth.json: how the files came out, for summaries and benchmarks.
    files: int = field(default=0, compare=False)
    bytes_written: int = field(default=0, compare=False)
    raw_bytes: int = field(default=0, compare=False)
    cpu_seconds: float = field(default=0.0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("files", "bytes_written", "raw_bytes", "cpu_seconds"):
            d.pop(k)
        order = ["schema_version", "scenario", "seed", "start", "end", "accounts",
                 "events_total", "deliveries_total", "duplicate_event_ids", "tenants", "attack",
                 "lookalikes"]
        return {k: d[k] for k in order}


def bucket_impact(records: list[Record], tenants: dict[str, str]) -> list[dict[str, Any]]:
    """Per bucket: distinct objects read, successful GetObject events, bytes out (each
    eventID once). Shared by the generator and the verifier so both use one definition."""
    seen: set[str] = set()
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r.get("eventName") != "GetObject" or r.get("errorCode"):
            continue
        eid = r["eventID"]
        if eid in seen:
            continue
        seen.add(eid)
        req = r.get("requestParameters") or {}
        b = req.get("bucketName")
        key = (b, r.get("recipientAccountId"))
        e = per.setdefault(key, {"name": b, "account": r.get("recipientAccountId"),
                                 "objects": set(), "get_object_events": 0, "bytes_out": 0})
        e["objects"].add(req.get("key"))
        e["get_object_events"] += 1
        e["bytes_out"] += int((r.get("additionalEventData") or {}).get("bytesTransferredOut")
                              or 0)
    out = []
    for (b, _acct), e in sorted(per.items()):
        out.append({"name": b, "account": e["account"], "objects_read": len(e["objects"]),
                    "get_object_events": e["get_object_events"], "bytes_out": e["bytes_out"],
                    "tenant": tenants.get(b)})
    return out


def attack_section(records: list[Record], stage_of: dict[str, str], *, root_access_key: str,
                   access_keys: list[str], principals: list[str], techniques: set[str],
                   tenants: dict[str, str], legit_ips: set[str],
                   legit_uas: set[str]) -> dict[str, Any]:
    times = sorted(r["eventTime"] for r in records)
    by_stage: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: (r["eventTime"], r["eventID"])):
        by_stage.setdefault(stage_of[r["eventID"]], []).append(r["eventID"])
    accounts: set[str] = set()
    for r in records:
        accounts.add(r["recipientAccountId"])
        acct = r["userIdentity"].get("accountId")
        if acct:
            accounts.add(acct)
    return {
        "window": {"start": times[0], "end": times[-1]},
        "root_access_key": root_access_key,
        "access_keys": list(access_keys),
        "principals": list(principals),
        "accounts": sorted(accounts),
        "source_ips": sorted({r["sourceIPAddress"] for r in records}),
        "user_agents": sorted({r["userAgent"] for r in records}),
        "stages": [s for s in STAGES if s in by_stage],
        "techniques": sorted(techniques),
        "event_ids": sorted(stage_of),
        "events_by_stage": {s: by_stage[s] for s in STAGES if s in by_stage},
        "s3_buckets": bucket_impact(records, tenants),
        "legitimate_ips_of_stolen_key": sorted(legit_ips),
        "legitimate_user_agents_of_stolen_key": sorted(legit_uas),
    }
