"""`s3://bucket/prefix` sources through boto3: CloudTrail's layout listed by prefix, objects
downloaded ahead in parallel with bounded memory.

Why it is shaped this way:

- **Listing narrows by prefix.** A trail is `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/
  <region>/YYYY/MM/DD/`. Organisation ids, accounts, regions, years, months and days are found
  with `ListObjectsV2(Delimiter='/')` one level at a time, and `--account`, `--region`,
  `--since`/`--until` prune that tree *before* it is listed, so reading one week of a two-year,
  hundred-account trail costs a few dozen calls, not millions of keys. Without a date range a
  region is listed plainly (one call per 1,000 keys, the cheapest way to read everything).
  Prefixes outside the layout are listed plainly too. Every listing is paginated.
- **Order is stable**: each listing is sorted by key, so two runs see objects in the same order.
- **Downloads run ahead of the reader**, at most `max_workers` GETs in flight, results handed
  over in listing order; the listing itself runs on its own thread a bounded queue ahead.
  Memory is bounded by the window and the queue, never by the number of objects.
- **Objects the manifest already holds are never downloaded**: `known(name, version)` is asked
  before a GET is scheduled; such objects keep a lazy `read()` that the ingest does not call.
- **A failed object is quarantined, not fatal**: botocore retries throttling and 5xx (adaptive
  mode); a body that breaks mid-stream is re-requested here with backoff; after the last
  attempt the GET raises `S3ReadError`, an `OSError`, which the ingest records as a quarantined
  object with a one-line reason. Only a source that cannot be listed at all (missing bucket,
  access denied, no credentials) stops the run, as a `SourceError` (exit 2).

Identity in the manifest: `name` is `s3://bucket/key` (also for `s3a://` sources, so both
spellings resume each other) and `version` the object's ETag.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from trailhound.background import ahead
from trailhound.errors import SourceError, UsageError
from trailhound.sources import layout
from trailhound.sources.base import SourceObject

SkippedFn = Callable[[str, str], None]
KnownFn = Callable[[str, str], bool]

DEFAULT_WORKERS = 8
DEFAULT_RETRIES = 5
# Folders above `AWSLogs/` searched level by level (a trail's own S3 key prefix is rarely deeper);
# below this depth a non-layout prefix is listed plainly.
MAX_SEARCH_DEPTH = 3
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{4,32}$")
_LOG_KINDS = ("CloudTrail", "CloudTrail-Insight")


@dataclass(frozen=True)
class S3Options:
    """How to reach S3 and which part of a trail to read.

    `profile`, `endpoint_url` and `region` behave as in the AWS CLI; when None, boto3 resolves
    them itself (`AWS_PROFILE`, `AWS_ENDPOINT_URL[_S3]`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    `~/.aws/config`). `region` is the client's region, not a filter: `regions` filters the
    trail's region folders. `since`/`until` are inclusive day bounds on the trail's day folders.
    `session` lets a library caller hand over a ready boto3 session (assumed role, event hooks).
    """

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    max_workers: int = DEFAULT_WORKERS
    retries: int = DEFAULT_RETRIES
    session: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for a in self.accounts:
            if not _ACCOUNT.match(a):
                raise UsageError(f"--account {a}: expected a 12-digit AWS account id")
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"--since {self.since} is after --until {self.until}")
        if self.max_workers < 1:
            raise UsageError("--s3-workers must be at least 1")
        if self.retries < 1:
            raise UsageError("S3 retries must be at least 1")

    @property
    def narrows(self) -> bool:
        return bool(self.accounts or self.regions or self.since or self.until)


class S3ReadError(OSError):
    """One object could not be downloaded after every retry. An `OSError`, so the ingest
    quarantines the object with this one-line reason and goes on with the rest."""


@dataclass(frozen=True)
class _Key:
    key: str
    size: int
    etag: str  # as S3 sends it, quotes included (for If-Match)

    @property
    def version(self) -> str:
        return self.etag.strip('"')


def parse_url(src: str) -> tuple[str, str]:
    """`s3://bucket/prefix` or `s3a://...` -> (bucket, prefix)."""
    m = re.match(r"^s3a?://([^/]+)/?(.*)$", src)
    if not m or not m.group(1):
        raise UsageError(f"{src}: expected s3://bucket[/prefix]")
    return m.group(1), m.group(2)


def make_client(opts: S3Options) -> Any:
    """A boto3 S3 client configured as the AWS CLI would be, plus adaptive retries and a
    connection pool large enough for the download window."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = opts.session or _session(opts)
        # S3 answers any region's bucket from us-east-1 with a redirect that botocore
        # follows, so a missing default region must not stop a listing.
        region = opts.region or session.region_name or "us-east-1"
        config = Config(retries={"max_attempts": opts.retries, "mode": "adaptive"},
                        max_pool_connections=opts.max_workers + 4,
                        connect_timeout=10, read_timeout=60)
        return session.client("s3", endpoint_url=opts.endpoint_url, region_name=region,
                               config=config)
    except ProfileNotFound:
        raise UsageError(f"--profile {opts.profile}: no such AWS profile") from None
    except (BotoCoreError, ValueError) as e:
        raise UsageError(f"cannot set up the S3 client ({_one_line(e)})") from None


def _session(opts: S3Options) -> Any:
    """boto3's usual session, except that with an explicit --endpoint-url the EC2 instance
    metadata service is not asked for credentials: the user named the one host to talk to,
    and 169.254.169.254 is not it. Environment, profile and container credentials still
    apply; on EC2 with a custom endpoint, export credentials or use a profile."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    if opts.profile:
        core.set_config_variable("profile", opts.profile)
    if opts.endpoint_url:
        resolver = core.get_component("credential_provider")
        for name in ("iam-role",):
            if resolver.get_provider(name) is not None:
                resolver.remove(name)
    return boto3.session.Session(botocore_session=core, region_name=opts.region)


def walk(src: str, opts: S3Options | None = None, *, skipped: SkippedFn | None = None,
         known: KnownFn | None = None) -> Iterator[SourceObject]:
    """Yield the log objects under an `s3://` source, bytes downloaded ahead in parallel."""
    opts = opts or S3Options()
    bucket, prefix = parse_url(src)
    client = make_client(opts)
    lister = _Lister(client, bucket, opts, skipped)
    yield from _prefetch(_ahead(lister.walk(prefix)), client, bucket, opts, known)


LISTING_AHEAD = 5000  # keys listed ahead of the downloads (a few hundred kB)


def _ahead(keys: Iterator[_Key], maxsize: int = LISTING_AHEAD) -> Iterator[_Key]:
    """Run the listing on its own thread, a bounded queue ahead of the downloads.

    Narrowed listings are many small calls (a few per account, region and day); against S3
    each is a round trip, and done inline they would stall the download window every time.
    Order is kept; errors (a bucket that cannot be listed) are raised in the consumer.
    """
    return ahead(keys, maxsize=maxsize, name="trailhound-s3-list")


# ---------------------------------------------------------------------------------------------
# Listing


class _Lister:
    def __init__(self, client: Any, bucket: str, opts: S3Options,
                 skipped: SkippedFn | None) -> None:
        self.client = client
        self.bucket = bucket
        self.opts = opts
        self.skipped = skipped
        self.seen_anything = False
        self._since = opts.since.isoformat() if opts.since else None
        self._until = opts.until.isoformat() if opts.until else None

    # -- entry --------------------------------------------------------------------------------

    def walk(self, prefix: str) -> Iterator[_Key]:
        if prefix and not prefix.endswith("/"):
            # One cheap call tells a key named explicitly from a folder given without its "/".
            resp = self._call(prefix, Prefix=prefix, Delimiter="/", MaxKeys=1)
            first = (resp.get("Contents") or [None])[0]
            if first is not None and first["Key"] == prefix:
                self.seen_anything = True
                if layout.is_digest(prefix):
                    self._skip(self._url(prefix), "CloudTrail digest file")
                else:
                    yield _key(first)  # named explicitly: read whatever its extension
                return
            prefix += "/"
        yield from self._dispatch(prefix)
        if not self.seen_anything:
            raise SourceError("nothing there (no objects under this prefix)",
                              location=self._url(prefix))

    def _dispatch(self, prefix: str) -> Iterator[_Key]:
        """Enter the layout at whatever level the user's prefix already points to."""
        head, sep, rest = prefix.rpartition("AWSLogs/")
        if not sep or (head and not head.endswith("/")):
            return (yield from self._search(prefix, 0))
        segs = rest.split("/")[:-1]
        i = 0
        if i < len(segs) and _ORG.match(segs[i]):
            i += 1
        if i == len(segs):
            return (yield from self._awslogs(prefix))
        if not _ACCOUNT.match(segs[i]):
            return (yield from self._plain(prefix))
        if not self._account_wanted(segs[i]):
            self.seen_anything = True  # the user's own filter excludes it: not an empty source
            return
        i += 1
        if i == len(segs):
            return (yield from self._account(prefix))
        if segs[i] not in _LOG_KINDS:
            return (yield from self._plain(prefix))
        i += 1
        if i == len(segs):
            return (yield from self._kind(prefix))
        if not self._region_wanted(segs[i]):
            self.seen_anything = True
            return
        dates = segs[i + 1:]
        if not all(d.isdigit() for d in dates) or len(dates) > 3:
            return (yield from self._plain(prefix))
        return (yield from self._dates(prefix, [int(d) for d in dates]))

    # -- levels -------------------------------------------------------------------------------

    def _search(self, prefix: str, depth: int) -> Iterator[_Key]:
        """Above the layout: look for `AWSLogs/` a few levels down, list the rest plainly."""
        for name, meta in self._level(prefix):
            if meta is not None:
                yield from self._emit(meta)
            elif name == prefix + "AWSLogs/":
                yield from self._awslogs(name)
            elif depth + 1 < MAX_SEARCH_DEPTH:
                yield from self._search(name, depth + 1)
            else:
                yield from self._plain(name)

    def _awslogs(self, prefix: str) -> Iterator[_Key]:
        """`AWSLogs/` or `AWSLogs/o-org/`: organisation ids and accounts."""
        for name, meta in self._level(prefix):
            seg = _last(name)
            if meta is not None:
                yield from self._emit(meta)
            elif _ORG.match(seg):
                yield from self._awslogs(name)
            elif _ACCOUNT.match(seg):
                if self._account_wanted(seg):
                    yield from self._account(name)
            else:
                yield from self._plain(name)

    def _account(self, prefix: str) -> Iterator[_Key]:
        for name, meta in self._level(prefix):
            seg = _last(name)
            if meta is not None:
                yield from self._emit(meta)
            elif seg == "CloudTrail-Digest":
                self._skip(self._url(name), "CloudTrail digest folder")
            elif seg in _LOG_KINDS:
                yield from self._kind(name)
            else:
                yield from self._plain(name)

    def _kind(self, prefix: str) -> Iterator[_Key]:
        for name, meta in self._level(prefix):
            if meta is not None:
                yield from self._emit(meta)
            elif self._region_wanted(_last(name)):
                yield from self._dates(name, [])

    def _dates(self, prefix: str, parts: list[int]) -> Iterator[_Key]:
        """`parts` is the (year, month, day) prefix already fixed by `prefix`."""
        if len(parts) == 3 or (self._since is None and self._until is None):
            return (yield from self._plain(prefix))
        for name, meta in self._level(prefix):
            seg = _last(name)
            if meta is not None:
                yield from self._emit(meta)
            elif not seg.isdigit():
                yield from self._plain(name)
            elif self._date_overlaps([*parts, int(seg)]):
                yield from self._dates(name, [*parts, int(seg)])

    # -- filters ------------------------------------------------------------------------------

    def _account_wanted(self, account: str) -> bool:
        return not self.opts.accounts or account in self.opts.accounts

    def _region_wanted(self, region: str) -> bool:
        return not self.opts.regions or region in self.opts.regions

    def _date_overlaps(self, parts: list[int]) -> bool:
        """Whether the year, year-month or day `parts` can hold a day in [since, until]."""
        lo, hi = self.opts.since, self.opts.until
        if len(parts) == 3:
            try:
                day = date(*parts)
            except ValueError:
                return False
            return (lo is None or day >= lo) and (hi is None or day <= hi)
        n = len(parts)
        return ((lo is None or tuple(parts) >= (lo.year, lo.month)[:n])
                and (hi is None or tuple(parts) <= (hi.year, hi.month)[:n]))

    def _emit(self, c: dict[str, Any]) -> Iterator[_Key]:
        if self._keep(c["Key"]):
            yield _key(c)

    def _keep(self, key: str) -> bool:
        """Digests and non-log files are reported as skipped; keys outside the requested
        accounts, regions or days (met in a plain listing) are dropped silently."""
        if layout.is_digest(key):
            self._skip(self._url(key), "CloudTrail digest file")
            return False
        if not layout.looks_like_log(key):
            self._skip(self._url(key), "not a log file (extension)")
            return False
        if self.opts.narrows:
            info = layout.parse(key)
            if info is not None and not (
                    self._account_wanted(info.account) and self._region_wanted(info.region)
                    and (self._since is None or info.date >= self._since)
                    and (self._until is None or info.date <= self._until)):
                return False
        return True

    def _skip(self, name: str, why: str) -> None:
        if self.skipped:
            self.skipped(name, why)

    # -- S3 calls -----------------------------------------------------------------------------

    def _level(self, prefix: str) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """One folder level in key order: (sub/, None) for a folder, (key, entry) for a key.
        Page by page, so a folder with a million keys directly inside stays streamed."""
        for page in self._pages(prefix, delimiter=True):
            entries: list[tuple[str, dict[str, Any] | None]] = [
                (p["Prefix"], None) for p in page.get("CommonPrefixes", [])]
            entries += [(c["Key"], c) for c in page.get("Contents", [])]
            entries.sort(key=lambda e: e[0])
            yield from entries

    def _plain(self, prefix: str) -> Iterator[_Key]:
        """Every key under `prefix`, paginated, sorted within each page (S3 already sends
        them in key order; sorting keeps the promise for S3-compatible stores too)."""
        for page in self._pages(prefix, delimiter=False):
            for c in sorted(page.get("Contents", []), key=lambda c: c["Key"]):
                if self._keep(c["Key"]):
                    yield _key(c)

    def _pages(self, prefix: str, *, delimiter: bool) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        kw: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kw["Delimiter"] = "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(**kw)
        try:
            for page in pages:
                if page.get("Contents") or page.get("CommonPrefixes"):
                    self.seen_anything = True
                yield page
        except ClientError as e:
            raise SourceError(_client_error(e), location=self._url(prefix)) from None
        except BotoCoreError as e:
            raise SourceError(_one_line(e), location=self._url(prefix)) from None

    def _call(self, prefix: str, **kw: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.list_objects_v2(Bucket=self.bucket, **kw)
        except ClientError as e:
            raise SourceError(_client_error(e), location=self._url(prefix)) from None
        except BotoCoreError as e:
            raise SourceError(_one_line(e), location=self._url(prefix)) from None

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _key(c: dict[str, Any]) -> _Key:
    return _Key(c["Key"], int(c.get("Size", 0)), str(c.get("ETag", "")))


def _last(prefix: str) -> str:
    return prefix.rstrip("/").rsplit("/", 1)[-1]


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _client_error(e: Any) -> str:
    err = e.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "NoSuchBucket":
        return "no such bucket"
    if code in ("AccessDenied", "403") or status == 403:
        return ("access denied (check the credentials in use: --profile, AWS_* variables, "
                "and the bucket policy)")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return f"credentials refused ({code})"
    return f"{code or status}: {_one_line(err.get('Message', e))}"


# ---------------------------------------------------------------------------------------------
# Downloads


def _prefetch(keys: Iterator[_Key], client: Any, bucket: str, opts: S3Options,
              known: KnownFn | None) -> Iterator[SourceObject]:
    """Yield objects in listing order while up to `max_workers` GETs run ahead.

    The window holds at most `max_workers` scheduled downloads and `4 * max_workers` entries in
    all (objects the manifest already has are entries without a download), so memory stays at a
    few objects whatever the trail's size.
    """
    workers = opts.max_workers
    window: deque[tuple[_Key, _Slot]] = deque()
    in_flight = 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trailhound-s3")

    def fetch(k: _Key) -> bytes:
        return get_object(client, bucket, k, retries=opts.retries)

    def head() -> SourceObject:
        nonlocal in_flight
        k, slot = window.popleft()
        if slot.fut is not None:
            in_flight -= 1
        return SourceObject(name=f"s3://{bucket}/{k.key}", size=k.size, version=k.version,
                            reader=slot)

    try:
        for k in keys:
            name = f"s3://{bucket}/{k.key}"
            if known is not None and known(name, k.version):
                slot = _Slot(None, k, fetch)
            else:
                slot = _Slot(pool.submit(fetch, k), k, fetch)
                in_flight += 1
            window.append((k, slot))
            while window and (in_flight >= workers or len(window) >= 4 * workers):
                yield head()
        while window:
            yield head()
    finally:
        for _, slot in window:
            if slot.fut is not None:
                slot.fut.cancel()
        window.clear()
        pool.shutdown(wait=True, cancel_futures=True)


class _Slot:
    """An object's `read()`: the prefetched bytes once (then released, so the ingest's
    pending batch does not keep a second copy), else a fresh GET."""

    def __init__(self, fut: Future[bytes] | None, key: _Key,
                 fetch: Callable[[_Key], bytes]) -> None:
        self.fut = fut
        self.key = key
        self.fetch = fetch
        self.lock = threading.Lock()

    def __call__(self) -> bytes:
        with self.lock:
            fut, self.fut = self.fut, None
        if fut is None or fut.cancelled():
            return self.fetch(self.key)
        try:
            return fut.result()
        except CancelledError:  # the listing was closed before this download started
            return self.fetch(self.key)


def get_object(client: Any, bucket: str, k: _Key, *, retries: int = DEFAULT_RETRIES,
               sleep: Callable[[float], None] = time.sleep) -> bytes:
    """Download one object whole, re-requesting it when the body breaks mid-stream.

    botocore's own retries cover the request (throttling, 5xx, connection refused) but not a
    body that stops half way (connection reset, short read): those are retried here with
    exponential backoff and jitter. `If-Match` pins the listed ETag, so the bytes always belong
    to the version the manifest will record.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError as Urllib3Error

    url = f"s3://{bucket}/{k.key}"
    last: BaseException | None = None
    for attempt in range(retries):
        try:
            kw: dict[str, Any] = {"Bucket": bucket, "Key": k.key}
            if k.etag:
                kw["IfMatch"] = k.etag
            resp = client.get_object(**kw)
            body = resp["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412"):
                raise S3ReadError(f"{url} changed since it was listed (ETag {k.version}); "
                                  "a re-run reads the new version") from None
            if code in ("NoSuchKey", "404"):
                raise S3ReadError(f"{url} was deleted since it was listed") from None
            # Throttling and 5xx were already retried by botocore; anything else is final.
            raise S3ReadError(f"GET {url}: {_client_error(e)}") from None
        except (BotoCoreError, Urllib3Error, OSError) as e:
            last = e
            if attempt + 1 < retries:
                sleep(min(10.0, 0.2 * 2 ** attempt) * (0.5 + random.random()))
    raise S3ReadError(f"GET {url} failed after {retries} attempts: {_one_line(last or '')}")
