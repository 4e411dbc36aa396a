"""`verify()`: does a simulated corpus look like CloudTrail's delivery, and does it match its
own truth.json?

Checks, each reported as one line naming the file or event:
- layout: every file is a log file or a digest at AWS's path with AWS's name; the date folder
  matches the file's timestamp; log files are gzip'd single-line `{"Records":[...]}`;
- records: the fields CloudTrail always writes, per `userIdentity.type` and per event kind
  (data events, `CreateAccessKey`, `AssumeRole`, `ConsoleLogin`), the account and region of the
  path, no record delivered in a file older than the record;
- ids: every `eventID` is delivered once, except the labelled duplicates, which are delivered
  exactly twice, identically; cross-account twins share `sharedEventID` and `requestID`;
- digests: every log file a digest lists exists with that SHA-256;
- truth: counts, attacker event ids, stages, IPs, user agents, keys, window and the per-bucket
  objects and bytes recomputed from the records.

Memory grows with the number of distinct events (a set of ids): meant for test and demo sizes.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

import orjson

from trailhound.simulate.truth import STAGES, bucket_impact

_LOG = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=acct)_CloudTrail_(?P=region)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$")
_DIGEST = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail-Digest/(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=acct)_CloudTrail-Digest_(?P=region)_"
    r"[A-Za-z0-9._-]+_[a-z0-9-]+_(?P<stamp>\d{8}T\d{6}Z)\.json\.gz$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_KEY = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")

COMMON = ("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
          "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "eventID",
          "eventType", "recipientAccountId", "eventCategory", "managementEvent", "readOnly")
IDENTITY = {
    "IAMUser": ("principalId", "arn", "accountId", "userName"),
    "AssumedRole": ("principalId", "arn", "accountId", "accessKeyId", "sessionContext"),
    "AWSService": ("invokedBy",),
    "AWSAccount": ("principalId", "accountId"),
    "IdentityCenterUser": ("accountId", "onBehalfOf"),
    "Root": ("principalId", "arn", "accountId"),
}
MAX_PROBLEMS = 200


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    def add(self, msg: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(msg)
        else:
            self.dropped += 1

    def result(self) -> list[str]:
        if self.dropped:
            return [*self.items, f"... and {self.dropped} more problems"]
        return self.items


def _epoch(stamp: str, fmt: str) -> int:
    return calendar.timegm(time.strptime(stamp, fmt))


def _check_identity(ident: Any, where: str, p: _Problems) -> None:
    if not isinstance(ident, dict):
        p.add(f"{where}: userIdentity is not an object")
        return
    typ = ident.get("type")
    need = IDENTITY.get(str(typ))
    if need is None:
        p.add(f"{where}: unknown userIdentity.type {typ!r}")
        return
    for f in need:
        if not ident.get(f):
            p.add(f"{where}: {typ} identity without {f}")
    key = ident.get("accessKeyId")
    if key is not None and not _KEY.match(key):
        p.add(f"{where}: malformed accessKeyId {key!r}")
    if typ == "AssumedRole":
        sc = ident.get("sessionContext") or {}
        iss = sc.get("sessionIssuer") or {}
        for f in ("type", "principalId", "arn", "accountId", "userName"):
            if not iss.get(f):
                p.add(f"{where}: sessionIssuer without {f}")
        attrs = sc.get("attributes") or {}
        if not attrs.get("creationDate") or attrs.get("mfaAuthenticated") not in ("true",
                                                                                   "false"):
            p.add(f"{where}: session attributes incomplete")
        if key is not None and not key.startswith("ASIA"):
            p.add(f"{where}: a role session signs with an ASIA key, not {key}")


def check_record(r: Any, where: str, p: _Problems) -> None:
    """The fields CloudTrail writes for this kind of record."""
    if not isinstance(r, dict):
        p.add(f"{where}: record is not an object")
        return
    for f in COMMON:
        if f not in r:
            p.add(f"{where}: no {f}")
    if not _UUID.match(str(r.get("eventID", ""))):
        p.add(f"{where}: eventID is not a UUID")
    if not _TIME.match(str(r.get("eventTime", ""))):
        p.add(f"{where}: eventTime is not YYYY-MM-DDTHH:MM:SSZ")
    if r.get("eventType") == "AwsApiCall" and not r.get("requestID"):
        p.add(f"{where}: API call without requestID")
    _check_identity(r.get("userIdentity"), where, p)
    name = r.get("eventName")
    cat = r.get("eventCategory")
    ok = not r.get("errorCode")
    if cat == "Data":
        if r.get("managementEvent") is not False:
            p.add(f"{where}: data event with managementEvent not false")
        res = r.get("resources")
        if not isinstance(res, list) or not res or not all(
                isinstance(x, dict) and x.get("ARN") and x.get("type") for x in res):
            p.add(f"{where}: data event without a resources list")
        req = r.get("requestParameters") or {}
        if not req.get("bucketName"):
            p.add(f"{where}: S3 data event without bucketName")
        if name in ("GetObject", "PutObject", "HeadObject") and not req.get("key"):
            p.add(f"{where}: {name} without key")
        aed = r.get("additionalEventData") or {}
        for f in ("bytesTransferredIn", "bytesTransferredOut"):
            if not isinstance(aed.get(f), int | float):
                p.add(f"{where}: data event without numeric {f}")
    elif cat == "Management":
        if r.get("managementEvent") is not True:
            p.add(f"{where}: management event with managementEvent not true")
    else:
        p.add(f"{where}: eventCategory {cat!r}")
    resp = r.get("responseElements") or {}
    if name == "CreateAccessKey" and ok:
        ak = resp.get("accessKey") or {}
        for f in ("accessKeyId", "status", "userName", "createDate"):
            if not ak.get(f):
                p.add(f"{where}: CreateAccessKey response without accessKey.{f}")
    if name == "AssumeRole" and ok:
        cr, au = resp.get("credentials") or {}, resp.get("assumedRoleUser") or {}
        for f in ("accessKeyId", "sessionToken", "expiration"):
            if not cr.get(f):
                p.add(f"{where}: AssumeRole response without credentials.{f}")
        for f in ("arn", "assumedRoleId"):
            if not au.get(f):
                p.add(f"{where}: AssumeRole response without assumedRoleUser.{f}")
    if name == "ConsoleLogin" and (r.get("eventType") != "AwsConsoleSignIn"
                                   or "ConsoleLogin" not in resp):
        p.add(f"{where}: ConsoleLogin is not an AwsConsoleSignIn with a ConsoleLogin result")


def verify(out: Path) -> list[str]:
    """Every problem found in the corpus at `out`; an empty list means it is sound."""
    out = Path(out)
    p = _Problems()
    if not out.is_dir():
        return [f"{out}: not a folder"]
    truth: dict[str, Any] = {}
    tenants: dict[str, Any] = {}
    for name in ("truth.json", "tenants.json"):
        try:
            data = orjson.loads((out / name).read_bytes())
        except FileNotFoundError:
            p.add(f"{name}: missing")
            continue
        except orjson.JSONDecodeError as e:
            p.add(f"{name}: not JSON ({e})")
            continue
        if name == "truth.json":
            truth = data
        else:
            tenants = data
    attack = truth.get("attack") or {}
    attack_ids = set(attack.get("event_ids") or [])
    look_ids = {i for la in truth.get("lookalikes") or [] for i in la.get("event_ids", [])}

    seen: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    shared: dict[str, list[tuple[str, str]]] = {}
    attack_recs: dict[str, dict] = {}
    hashes: dict[str, str] = {}
    digests: list[tuple[str, dict]] = []
    deliveries = 0
    root = out / "AWSLogs"
    if not root.is_dir():
        p.add("AWSLogs: missing")
    for dirpath, _dirs, files in sorted(os.walk(root)):
        for fn in sorted(files):
            full = Path(dirpath) / fn
            rel = full.relative_to(out).as_posix()
            raw = full.read_bytes()
            m = _LOG.match(rel)
            dm = _DIGEST.match(rel) if not m else None
            if not m and not dm:
                p.add(f"{rel}: not a CloudTrail log or digest path")
                continue
            mm = m or dm
            assert mm is not None
            stamp = mm["stamp"]
            if stamp[:8] != f"{mm['y']}{mm['m']}{mm['d']}":
                p.add(f"{rel}: date folder does not match the file's timestamp")
            try:
                text = gzip.decompress(raw)
                body = orjson.loads(text)
            except (OSError, EOFError, orjson.JSONDecodeError) as e:
                p.add(f"{rel}: not gzip'd JSON ({e})")
                continue
            if dm:
                digests.append((rel, body))
                continue
            hashes[rel] = hashlib.sha256(raw).hexdigest()
            if b"\n" in text.rstrip(b"\n"):
                p.add(f"{rel}: not a single line")
            if not isinstance(body, dict) or list(body) != ["Records"] or not isinstance(
                    body["Records"], list):
                p.add(f"{rel}: not {{\"Records\": [...]}}")
                continue
            file_t = _epoch(stamp, "%Y%m%dT%H%MZ")
            for i, r in enumerate(body["Records"]):
                where = f"{rel}#{i}"
                check_record(r, where, p)
                if not isinstance(r, dict):
                    continue
                deliveries += 1
                if r.get("recipientAccountId") != mm["acct"]:
                    p.add(f"{where}: recipientAccountId differs from the path's account")
                if r.get("awsRegion") != mm["region"]:
                    p.add(f"{where}: awsRegion differs from the path's region")
                et = str(r.get("eventTime", ""))
                if _TIME.match(et) and _epoch(et, "%Y-%m-%dT%H:%M:%SZ") > file_t:
                    p.add(f"{where}: delivered in a file older than the event")
                eid = str(r.get("eventID"))
                digest = hashlib.blake2b(orjson.dumps(r), digest_size=8).digest()
                if eid in seen:
                    counts[eid] += 1
                    if seen[eid] != digest:
                        p.add(f"{where}: eventID {eid} reused by a different record")
                    continue
                seen[eid] = digest
                counts[eid] = 1
                if r.get("sharedEventID"):
                    shared.setdefault(r["sharedEventID"], []).append(
                        (str(r.get("requestID")), str(r.get("recipientAccountId"))))
                if eid in attack_ids:
                    attack_recs[eid] = r
    for rel, body in digests:
        for lf in body.get("logFiles") or []:
            h = hashes.get(lf.get("s3Object", ""))
            if h is None:
                p.add(f"{rel}: lists {lf.get('s3Object')}, which does not exist")
            elif h != lf.get("hashValue"):
                p.add(f"{rel}: hash of {lf.get('s3Object')} does not match")
    for sid, twins in shared.items():
        if len(twins) != 2 or twins[0][0] != twins[1][0] or twins[0][1] == twins[1][1]:
            p.add(f"sharedEventID {sid}: expected two records in two accounts with one "
                  f"requestID, found {twins}")
    if truth:
        _check_truth(truth, tenants, counts, deliveries, attack_recs, look_ids, p)
    return p.result()


def _check_truth(truth: dict[str, Any], tenants: dict[str, Any], counts: dict[str, int],
                 deliveries: int, attack_recs: dict[str, dict], look_ids: set[str],
                 p: _Problems) -> None:
    if truth.get("schema_version") != 1:
        p.add("truth.json: schema_version is not 1")
    if truth.get("events_total") != len(counts):
        p.add(f"truth.json: events_total {truth.get('events_total')} but {len(counts)} "
              f"distinct eventIDs delivered")
    if truth.get("deliveries_total") != deliveries:
        p.add(f"truth.json: deliveries_total {truth.get('deliveries_total')} but {deliveries} "
              f"records delivered")
    dups = set(truth.get("duplicate_event_ids") or [])
    actual = {e for e, n in counts.items() if n > 1}
    if dups != actual:
        p.add(f"truth.json: {len(actual - dups)} unlabelled duplicate eventIDs, "
              f"{len(dups - actual)} labelled duplicates not delivered twice")
    if any(n > 2 for n in counts.values()):
        p.add("some eventIDs are delivered more than twice")
    if truth.get("tenants") != tenants:
        p.add("truth.json: tenants differ from tenants.json")
    missing_look = [i for i in look_ids if i not in counts]
    if missing_look:
        p.add(f"truth.json: {len(missing_look)} look-alike eventIDs not in the records")
    attack = truth.get("attack")
    if not attack:
        return
    ids = set(attack.get("event_ids") or [])
    if ids & look_ids:
        p.add("truth.json: events labelled both attacker and look-alike")
    missing = ids - set(attack_recs)
    if missing:
        p.add(f"truth.json: {len(missing)} attacker eventIDs not in the records")
    by_stage = attack.get("events_by_stage") or {}
    staged = [i for v in by_stage.values() for i in v]
    if set(staged) != ids or len(staged) != len(ids):
        p.add("truth.json: events_by_stage is not a partition of event_ids")
    if list(attack.get("stages") or []) != [s for s in STAGES if s in by_stage]:
        p.add("truth.json: stages do not match events_by_stage")
    if any(s not in STAGES for s in by_stage):
        p.add("truth.json: unknown stage name")
    recs = list(attack_recs.values())
    if not recs:
        return
    expect: dict[str, Any] = {
        "source_ips": sorted({r["sourceIPAddress"] for r in recs}),
        "user_agents": sorted({r["userAgent"] for r in recs}),
        "s3_buckets": bucket_impact(recs, tenants),
        "window": {"start": min(r["eventTime"] for r in recs),
                   "end": max(r["eventTime"] for r in recs)},
    }
    for k, v in expect.items():
        if attack.get(k) != v:
            p.add(f"truth.json: attack.{k} does not match the records")
    keys = set(attack.get("access_keys") or [])
    used = {r["userIdentity"].get("accessKeyId") for r in recs} - {None}
    created = {((r.get("responseElements") or {}).get("accessKey") or {}).get("accessKeyId")
               for r in recs if r["eventName"] == "CreateAccessKey"} - {None}
    if not (used | created) <= keys:
        p.add(f"truth.json: attack.access_keys misses {sorted((used | created) - keys)}")
    if attack.get("root_access_key") not in keys:
        p.add("truth.json: root_access_key is not in access_keys")
    principals = set(attack.get("principals") or [])
    arns = {r["userIdentity"].get("arn") for r in recs} - {None}
    if not arns <= principals:
        p.add(f"truth.json: attack.principals misses {sorted(arns - principals)}")
    legit = set(attack.get("legitimate_ips_of_stolen_key") or [])
    if legit & set(expect["source_ips"]):
        p.add("truth.json: an attacker IP is also a legitimate IP of the stolen key")
