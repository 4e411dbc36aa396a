"""What a path in CloudTrail's S3 layout says about the object, and which objects are logs.

AWS writes `AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz`, digests
under `CloudTrail-Digest/`, and Insights under `CloudTrail-Insight/`. Digest files are
signatures over log files, not events, so they are recognised and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LAYOUT = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]{4,32})/)?(?P<account>\d{12})/"
    r"(?P<kind>CloudTrail|CloudTrail-Digest|CloudTrail-Insight)/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
)
_DIGEST_NAME = re.compile(r"_CloudTrail-Digest_")
LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz")


@dataclass(frozen=True)
class LayoutInfo:
    account: str
    region: str
    date: str
    kind: str
    org: str | None


def parse(path: str) -> LayoutInfo | None:
    m = _LAYOUT.search(path.replace("\\", "/"))
    if not m:
        return None
    return LayoutInfo(
        account=m["account"],
        region=m["region"],
        date=f"{m['y']}-{m['m']}-{m['d']}",
        kind=m["kind"],
        org=m["org"],
    )


def is_digest(path: str) -> bool:
    p = path.replace("\\", "/")
    return "/CloudTrail-Digest/" in p or bool(_DIGEST_NAME.search(p.rsplit("/", 1)[-1]))


def looks_like_log(path: str) -> bool:
    return path.lower().endswith(LOG_SUFFIXES)
