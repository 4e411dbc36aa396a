"""One small simulated incident for the report and investigate tests, with a hostile record.

The simulator's reference attack (seed and size the correlation tests hold the hunt to) plus
one GetObject by the attacker-created key whose user agent, bucket name, object key, request
parameters and tenant carry every trick a log string can play on a renderer: HTML/script,
Markdown links and images, spreadsheet formulas, ANSI escapes and bidi overrides. Built once
per test session (`build` caches by folder) because a hunt takes tens of seconds.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIM = {"scenario": "full", "days": 5, "events_per_day": 3000, "seed": 1}

# Each would do something if a renderer let it through: run script (sets window.__pwned and
# the title), load a remote image or link, start a formula, recolour or retitle a terminal,
# reverse the text that follows.
SCRIPT = "<script>window.__pwned=1;document.title='PWNED'</script>"
IMG = "<img src=x onerror=\"window.__pwned=2\">"
CLOSE = "</script><!--"
MDLINK = "[click](http://evil.example/x) ![i](http://evil.example/i.png)"
FORMULA = "=cmd|' /C calc'!A0"
ANSI = "\x1b[31mRED\x1b]0;owned\x07"
RTL = "\u202egpj.exe"
HOSTILE_UA = f"{SCRIPT}{IMG} {MDLINK} {ANSI}{RTL} \"quote' back\\slash"
HOSTILE_BUCKET = f"{CLOSE}{SCRIPT}b{RTL}"
HOSTILE_KEY = f"{FORMULA}/{MDLINK}/{ANSI}"
HOSTILE_TENANT = f"{FORMULA}{IMG}"
HOSTILE_BYTES = 4321
HOSTILE_EVENT_ID = "0badc0de-0000-4000-8000-00000000beef"
MARKERS = ("<script", "<img", "\x1b", "\u202e", "\x07")


@dataclass
class Corpus:
    sim: Path
    out: Path
    store: Path
    truth: dict[str, Any]
    incident: dict[str, Any]
    created_key: str
    attacker_ip: str
    result: Any  # the HuntResult, for renderers called directly
    hostile_time: str  # eventTime of the hostile record


_CACHE: dict[Path, Corpus] = {}


def build(base: Path) -> Corpus:
    if base in _CACHE:
        return _CACHE[base]
    from trailhound.hunt import hunt, load_incidents, load_tenants
    from trailhound.simulate import generate

    generate(base / "sim", workers=1, **SIM)  # type: ignore[arg-type]
    truth = json.loads((base / "sim" / "truth.json").read_text())
    attack = truth["attack"]
    root = attack["root_access_key"]
    created = next(k for k in attack["access_keys"] if k.startswith("AKIA") and k != root)
    template = _attacker_getobject(base / "sim" / "AWSLogs", created)
    rec = json.loads(json.dumps(template))
    rec["eventID"] = HOSTILE_EVENT_ID
    rec["userAgent"] = HOSTILE_UA
    rec["requestParameters"] = {"bucketName": HOSTILE_BUCKET, "key": HOSTILE_KEY,
                                "Host": f"{HOSTILE_BUCKET}.s3.amazonaws.com",
                                "x-note": f"{SCRIPT}{FORMULA}{ANSI}"}
    rec["additionalEventData"] = {**(rec.get("additionalEventData") or {}),
                                  "bytesTransferredOut": HOSTILE_BYTES}
    rec["resources"] = [{"type": "AWS::S3::Object",
                         "ARN": f"arn:aws:s3:::{HOSTILE_BUCKET}/{HOSTILE_KEY}"}]
    acct = rec["recipientAccountId"]
    day = rec["eventTime"][:10].replace("-", "/")
    region = rec.get("awsRegion", "eu-west-1")
    folder = base / "sim" / "AWSLogs" / acct / "CloudTrail" / region / day
    folder.mkdir(parents=True, exist_ok=True)
    stamp = rec["eventTime"].replace("-", "").replace(":", "")[:13] + "Z"
    name = f"{acct}_CloudTrail_{region}_{stamp}_HostileRecordTest.json.gz"
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": [rec]}).encode()))
    tenants_path = base / "tenants.json"
    tenants = json.loads((base / "sim" / "tenants.json").read_text())
    tenants[HOSTILE_BUCKET] = HOSTILE_TENANT
    tenants_path.write_text(json.dumps(tenants))

    result = hunt([str(base / "sim" / "AWSLogs")], base / "out", store=base / "store",
                  tenants=load_tenants(tenants_path))
    doc = load_incidents(base / "store")
    found = [i for i in doc["incidents"] if i["root_access_key"] == root]
    assert found, f"no incident rooted at the stolen key {root} in {SIM}"
    corpus = Corpus(base / "sim", base / "out", base / "store", truth, found[0], created,
                    template["sourceIPAddress"], result, rec["eventTime"])
    _CACHE[base] = corpus
    return corpus


def _attacker_getobject(logs: Path, key: str) -> dict[str, Any]:
    """A GetObject the attacker made with the key they created, as the simulator wrote it."""
    for path in sorted(logs.rglob("*_CloudTrail_*.json.gz")):
        for rec in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            if (rec.get("eventName") == "GetObject"
                    and (rec.get("userIdentity") or {}).get("accessKeyId") == key):
                return rec
    raise AssertionError(f"the simulation has no GetObject by {key}")
