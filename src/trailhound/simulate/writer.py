"""Writes records the way CloudTrail delivers them to S3.

    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
        <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 alnum>.json.gz

holds one gzip'd single-line `{"Records":[...]}` per account, region and ~5-minute window.
As in real deliveries, records inside a file are only roughly in time order, a few arrive late
in a later file, and a small share is delivered twice (same record, later file). Each hour
also gets a `CloudTrail-Digest` file per account and region listing the log files and their
SHA-256, which readers must skip.

The writer's choices (delays, duplicates, file-name suffixes) come from a generator seeded for
the unit of work, so output is byte-identical whatever process writes it. gzip headers carry
no timestamp or file name for the same reason.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import orjson

from trailhound.simulate.records import Record, iso

WINDOW = 300
DUPLICATE_SHARE = 0.005
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class WriteStats:
    records: int = 0
    deliveries: int = 0
    files: int = 0
    bytes_written: int = 0
    raw_bytes: int = 0
    duplicate_ids: list[str] = field(default_factory=list)


def _suffix(rng: random.Random) -> str:
    return "".join(_ALNUM[b % 62] for b in rng.randbytes(16))


def _gzip(data: bytes, level: int) -> bytes:
    # gzip wrapper (wbits 31) writes mtime 0 and no name: same bytes every run. memLevel 9 is
    # the fastest setting at low levels; level 1 compresses CloudTrail JSON about 7.5x.
    c = zlib.compressobj(level, zlib.DEFLATED, 31, 9)
    return c.compress(data) + c.flush()


def log_path(account: str, region: str, t: int, suffix: str) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime(t))
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))
    return (f"AWSLogs/{account}/CloudTrail/{region}/{day}/"
            f"{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz")


def digest_path(account: str, region: str, t: int, trail: str, home: str) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime(t))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
    return (f"AWSLogs/{account}/CloudTrail-Digest/{region}/{day}/"
            f"{account}_CloudTrail-Digest_{region}_{trail}_{home}_{stamp}.json.gz")


def deliver(out: Path, events: list[tuple[int, Record]], rng: random.Random, *,
            trail: str, trail_bucket: str, home_region: str, digest_t: int,
            level: int = 1) -> WriteStats:
    """Write `events` (time, record) as delivered files under `out`; return what was written."""
    st = WriteStats()
    events.sort(key=itemgetter(0))
    files: dict[tuple[str, str, int], list[Record]] = defaultdict(list)
    rand = rng.random
    for t, rec in events:
        x = rand()
        # One draw decides both the delay (top of the range) and duplication (a thin slice
        # elsewhere in it), so both stay independent of the record's content.
        delay = 0 if x < 0.96 else (1 if x < 0.995 else 2)
        key = (rec["recipientAccountId"], rec["awsRegion"], t // WINDOW + delay)
        files[key].append(rec)
        if 0.5 <= x < 0.5 + DUPLICATE_SHARE:
            files[(key[0], key[1], key[2] + 1 + int((x - 0.5) * 600) % 3)].append(rec)
            st.duplicate_ids.append(rec["eventID"])
    st.records = len(events)
    digests: dict[tuple[str, str], list[dict]] = defaultdict(list)
    made: set[str] = set()
    for (acct, region, w), recs in sorted(files.items()):
        # Roughly ordered: neighbours swap now and then.
        n = len(recs)
        if n > 1:
            for _ in range(int(n * 0.12 + rng.random())):
                i = int(rng.random() * (n - 1))
                recs[i], recs[i + 1] = recs[i + 1], recs[i]
        delivered = (w + 1) * WINDOW + rng.randrange(30, 240)
        rel = log_path(acct, region, delivered, _suffix(rng))
        raw = orjson.dumps({"Records": recs})
        data = _gzip(raw, level)
        d, _, _ = rel.rpartition("/")
        if d not in made:
            os.makedirs(os.path.join(out, d), exist_ok=True)
            made.add(d)
        fd = os.open(os.path.join(out, rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        st.files += 1
        st.deliveries += len(recs)
        st.bytes_written += len(data)
        st.raw_bytes += len(raw)
        digests[(acct, region)].append({
            "s3Bucket": trail_bucket, "s3Object": rel,
            "hashValue": hashlib.sha256(data).hexdigest(), "hashAlgorithm": "SHA-256",
            "newestEventTime": max(times := [r["eventTime"] for r in recs]),
            "oldestEventTime": min(times),
        })
    for (acct, region), logs in sorted(digests.items()):
        rel = digest_path(acct, region, digest_t, trail, home_region)
        body = {
            "awsAccountId": acct,
            "digestStartTime": iso(digest_t - 3600), "digestEndTime": iso(digest_t),
            "digestS3Bucket": trail_bucket, "digestS3Object": rel,
            "digestPublicKeyFingerprint": hashlib.md5(acct.encode(),
                                                      usedforsecurity=False).hexdigest(),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": max(x["newestEventTime"] for x in logs),
            "oldestEventTime": min(x["oldestEventTime"] for x in logs),
            "previousDigestS3Bucket": None, "previousDigestS3Object": None,
            "previousDigestHashValue": None, "previousDigestHashAlgorithm": None,
            "previousDigestSignature": None,
            "logFiles": logs,
        }
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_gzip(orjson.dumps(body), level))
    return st
