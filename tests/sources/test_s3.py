"""`s3://` sources against moto's S3 server over HTTP on loopback.

Requests are counted with boto3 event hooks on the session handed to the source (what a real
client does, not a patched function); faults are injected by a TCP-level proxy that cuts
response bodies half way, as a reset connection does.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

import cloudtrail as ct
from trailhound.errors import SourceError
from trailhound.sources import discover
from trailhound.sources.s3 import S3Options
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

BUCKET = "trail-bucket"
ACCT_A = "111122223333"
ACCT_B = "444455556666"
ORG = "o-abcd1234ef"


# ---------------------------------------------------------------------------------------------
# helpers


class Calls:
    """A boto3 session whose clients report every S3 call they make."""

    def __init__(self) -> None:
        self.session = boto3.session.Session()
        self.lock = threading.Lock()
        self.listed: list[str] = []  # Prefix of every ListObjectsV2 request
        self.gets: list[str] = []  # Key of every GetObject request (retries included)
        self.session.events.register("provide-client-params.s3.ListObjectsV2", self._list)
        self.session.events.register("provide-client-params.s3.GetObject", self._get)

    def _list(self, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.listed.append(params.get("Prefix", ""))

    def _get(self, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.gets.append(params["Key"])

    def options(self, **kw: Any) -> S3Options:
        return S3Options(session=self.session, **kw)


def s3_client(endpoint: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=endpoint)


def _backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["global"]


def make_bucket(bucket: str = BUCKET) -> None:
    _backend().create_bucket(bucket, "us-east-1")


def put(key: str, body: bytes, bucket: str = BUCKET) -> None:
    """Test set-up writes straight into moto's in-process store (a PUT over HTTP costs ~8 ms
    on a loaded 2-core box); everything the code under test does goes over HTTP."""
    _backend().put_object(bucket, key, body)


def upload_tree(root: Path, bucket: str = BUCKET) -> int:
    """Put every file under `root` at its relative path; returns the number of objects."""
    make_bucket(bucket)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        put(p.relative_to(root).as_posix(), p.read_bytes(), bucket)
    return len(files)


def ctfile(records: list[dict]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def day_key(account: str, region: str, day: date, name: str, org: str | None = None) -> str:
    base = f"AWSLogs/{org}/{account}" if org else f"AWSLogs/{account}"
    return (f"{base}/CloudTrail/{region}/{day:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{day:%Y%m%d}T1000Z_{name}.json.gz")


def rows(store: Store) -> list[tuple]:
    conn = store.connect()
    return conn.execute("SELECT event_id, account_id, aws_region, event_time, raw FROM events "
                        "ORDER BY event_id").fetchall()


def manifest_count(store_dir: Path) -> int:
    with sqlite3.connect(store_dir / "manifest.sqlite") as db:
        return db.execute("SELECT count(*) FROM objects").fetchone()[0]


class FlakyProxy:
    """An HTTP proxy in front of moto that cuts the body of chosen GETs half way and resets
    the connection, as a broken network does. `fail[key_part] = n` breaks the next n GETs of
    keys containing `key_part`."""

    def __init__(self, upstream: str) -> None:
        up = urlparse(upstream)
        self.fail: dict[str, int] = {}
        self.cut = 0
        self.deny_listing = False
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def forward(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if proxy.deny_listing and "list-type=2" in self.path:
                    denied = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied'
                              b"</Code><Message>Access Denied</Message></Error>")
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(denied)))
                    self.end_headers()
                    self.wfile.write(denied)
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                cut = False
                if self.command == "GET" and resp.status == 200:
                    with lock:
                        for part, left in proxy.fail.items():
                            if part in self.path and left > 0:
                                proxy.fail[part] = left - 1
                                proxy.cut += 1
                                cut = True
                                break
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length",
                                         "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    # SO_LINGER 0: close with a TCP reset, not a clean FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                else:
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky(s3_env: str) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(s3_env)
    yield proxy
    proxy.close()


# ---------------------------------------------------------------------------------------------
# tests


def test_s3_ingest_equals_local_ingest(s3_env: str, tmp_path: Path) -> None:
    """The simulator's AWS layout (digests and all) read from S3 gives the same store and the
    same summary as the same files read from disk."""
    from trailhound.simulate import generate

    src = tmp_path / "trail"
    generate(src, days=1, events_per_day=500, seed=5, workers=1)
    assert upload_tree(src) > 500

    local = Store(tmp_path / "local", create=True)
    remote = Store(tmp_path / "remote", create=True)
    s_local = ingest([str(src)], local)
    s_remote = ingest([f"s3://{BUCKET}/"], remote)

    assert s_local.events_stored > 1000
    for f in ("objects_loaded", "objects_quarantined", "objects_empty", "records_read",
              "events_stored", "duplicates", "records_quarantined", "bytes_read", "skipped"):
        assert getattr(s_remote, f) == getattr(s_local, f), f
    assert rows(remote) == rows(local)

    # s3a:// is the same identity (s3://), and a key named explicitly is read on its own.
    key = next(p for p in src.rglob("*.json.gz") if "Digest" not in str(p))
    rel = key.relative_to(src).as_posix()
    objs = list(discover([f"s3a://{BUCKET}/{rel}"]))
    assert [o.name for o in objs] == [f"s3://{BUCKET}/{rel}"]
    assert objs[0].read() == key.read_bytes()


def test_pagination_over_a_thousand_keys(s3_env: str, tmp_path: Path) -> None:
    day = date(2026, 3, 19)
    keys = [day_key(ACCT_A, "eu-west-1", day, f"{i:05d}") for i in range(1100)]
    make_bucket()
    for i, k in enumerate(reversed(keys)):
        put(k, ctfile([ct.record("ListUsers", eventID=f"evt-{i:05d}")]))
    region = f"AWSLogs/{ACCT_A}/CloudTrail/eu-west-1/"

    # Listing alone (the store "has" everything, so nothing is downloaded): all keys, in order.
    calls = Calls()
    names = [o.name for o in discover([f"s3://{BUCKET}/AWSLogs/"], s3=calls.options(),
                                      known=lambda name, version: True)]
    assert names == [f"s3://{BUCKET}/{k}" for k in sorted(keys)]
    assert calls.listed.count(region) == 2  # 1,000 + 100: the paginator went on
    assert calls.gets == []

    # The ingest through the day-by-day path, paginated too, loads every object once.
    calls = Calls()
    st = Store(tmp_path / "st", create=True)
    stats = ingest([f"s3://{BUCKET}/"], st, s3=calls.options(since=day, until=day))
    assert stats.objects_loaded == 1100 and stats.events_stored == 1100
    assert calls.listed.count(f"{region}2026/03/19/") == 2
    assert sorted(calls.gets) == sorted(keys)


def test_corrupted_objects_are_quarantined_and_the_rest_loads(s3_env: str, tmp_path: Path
                                                              ) -> None:
    day = date(2026, 3, 19)
    make_bucket()
    for i in range(5):
        put(day_key(ACCT_A, "eu-west-1", day, f"good{i}"),
            ctfile([ct.record("ListUsers", eventID=f"good-{i}")]))
    put(day_key(ACCT_A, "eu-west-1", day, "truncated"),
        ctfile([ct.record("ListUsers", eventID="lost")])[:40])
    put(day_key(ACCT_A, "eu-west-1", day, "notct"), gzip.compress(b'{"hello": "world"}'))

    st = Store(tmp_path / "st", create=True)
    stats = ingest([f"s3://{BUCKET}/"], st)
    assert stats.objects_loaded == 5 and stats.events_stored == 5
    assert stats.objects_quarantined == 2
    bad = {s.rsplit("_", 1)[-1] for s, _, _ in stats.quarantine}
    assert bad == {"truncated.json.gz", "notct.json.gz"}


def test_a_body_cut_mid_stream_is_retried_then_quarantined(flaky: FlakyProxy, tmp_path: Path
                                                           ) -> None:
    """A GET whose body breaks half way is requested again; one that never completes becomes
    a quarantined object with a one-line reason, and the ingest carries on."""
    day = date(2026, 3, 19)
    make_bucket()
    for name in ("a", "flaky", "b", "broken", "c"):
        put(day_key(ACCT_A, "eu-west-1", day, name),
            ctfile([ct.record("ListUsers", eventID=f"evt-{name}-{i}") for i in range(200)]))
    flaky.fail = {"flaky": 2, "broken": 99}

    calls = Calls()
    st = Store(tmp_path / "st", create=True)
    stats = ingest([f"s3://{BUCKET}/"], st,
                   s3=calls.options(endpoint_url=flaky.url, retries=3, max_workers=2))
    assert flaky.cut == 2 + 3
    assert stats.objects_loaded == 4 and stats.events_stored == 800
    assert stats.objects_quarantined == 1
    [(source, position, reason)] = stats.quarantine
    assert source.endswith("broken.json.gz") and position is None
    assert "failed after 3 attempts" in reason and "\n" not in reason
    assert sum("flaky" in k for k in calls.gets) == 3


def test_account_region_and_days_narrow_the_listing(s3_env: str, tmp_path: Path, cli) -> None:
    make_bucket()
    days = [date(2026, 2, 20) + timedelta(days=i) for i in range(30)]  # across a month end
    for acct, org in ((ACCT_A, None), (ACCT_B, ORG)):
        for region in ("eu-west-1", "us-east-1"):
            for d in days:
                put(day_key(acct, region, d, "x", org=org),
                    ctfile([ct.record("ListUsers", eventID=f"{acct}-{region}-{d}")]))
    put(f"AWSLogs/{ACCT_A}/CloudTrail-Digest/eu-west-1/2026/03/01/d.json.gz", b"digest")

    calls = Calls()
    opts = calls.options(accounts=(ACCT_A,), regions=("eu-west-1",),
                         since=date(2026, 2, 28), until=date(2026, 3, 2))
    st = Store(tmp_path / "st", create=True)
    stats = ingest([f"s3://{BUCKET}/"], st, s3=opts)
    got = sorted(r[0] for r in rows(st))
    assert got == [f"{ACCT_A}-eu-west-1-{d}" for d in ("2026-02-28", "2026-03-01", "2026-03-02")]
    assert stats.skipped == {"CloudTrail digest folder": 1}

    listed = set(calls.listed)
    assert not [p for p in listed if ACCT_B in p or "us-east-1" in p or "Digest" in p]
    day_prefixes = sorted(p for p in listed if re.search(r"/\d{4}/\d{2}/\d{2}/$", p))
    base = f"AWSLogs/{ACCT_A}/CloudTrail/eu-west-1/"
    assert day_prefixes == [f"{base}2026/02/28/", f"{base}2026/03/01/", f"{base}2026/03/02/"]
    # Every call, in order: one per level down to the wanted days, plus the organisation
    # folder, which must be listed to learn which accounts it holds.
    assert calls.listed == ["", "AWSLogs/", f"AWSLogs/{ACCT_A}/", f"AWSLogs/{ACCT_A}/CloudTrail/",
                            base, f"{base}2026/", f"{base}2026/02/", f"{base}2026/02/28/",
                            f"{base}2026/03/", f"{base}2026/03/01/", f"{base}2026/03/02/",
                            f"AWSLogs/{ORG}/"]
    assert len(calls.gets) == 3

    # The same through the command line, for an account under an organisation level.
    code, out, err = cli("ingest", f"s3://{BUCKET}/AWSLogs/", "--store", str(tmp_path / "c"),
                         "--account", ACCT_B, "--region", "us-east-1", "--region", "eu-west-1",
                         "--since", "2026-03-18", "--format", "json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["events_stored"] == 2 * 4  # 18..21 March, two regions

    code, _, err = cli("ingest", str(tmp_path), "--store", str(tmp_path / "d"),
                       "--account", ACCT_A)
    assert code == 2 and "s3:// sources only" in err
    code, _, err = cli("ingest", f"s3://{BUCKET}/", "--store", str(tmp_path / "d"),
                       "--since", "2026-13-01")
    assert code == 2 and "--since" in err and len(err.strip().splitlines()) == 1


def test_resume_after_an_interrupted_run_downloads_only_the_rest(s3_env: str, tmp_path: Path
                                                                 ) -> None:
    day = date(2026, 3, 19)
    make_bucket()
    keys = [day_key(ACCT_A, "eu-west-1", day, f"{i:03d}") for i in range(40)]
    for i, k in enumerate(keys):
        put(k, ctfile([ct.record("ListUsers", eventID=f"evt-{i:03d}-{j}") for j in range(5)]))

    class Interrupt(Exception):
        pass

    def stop_after_three(stats: Any) -> None:
        if stats.objects_loaded >= 3:
            raise Interrupt

    store_dir = tmp_path / "st"
    first = Calls()
    with pytest.raises(Interrupt):
        ingest([f"s3://{BUCKET}/"], Store(store_dir, create=True), batch_bytes=1,
               progress=stop_after_three, s3=first.options(max_workers=4))
    done = manifest_count(store_dir)
    assert 3 <= done < 40

    second = Calls()
    st = Store(store_dir)
    stats = ingest([f"s3://{BUCKET}/"], st, s3=second.options(max_workers=4))
    assert len(second.gets) == 40 - done  # nothing already committed was downloaded again
    assert stats.objects_unchanged == done and stats.objects_loaded == 40 - done
    assert len(rows(st)) == 200

    third = Calls()
    stats = ingest([f"s3://{BUCKET}/"], st, s3=third.options())
    assert third.gets == [] and stats.objects_unchanged == 40 and stats.events_stored == 0


def test_lookahead_is_bounded(s3_env: str) -> None:
    """Downloads run at most `max_workers` ahead of the reader, whatever the listing's size."""
    make_bucket()
    body = ctfile([])
    for i in range(30):
        put(day_key(ACCT_A, "eu-west-1", date(2026, 3, 19), f"{i:02d}"), body)
    calls = Calls()
    it = discover([f"s3://{BUCKET}/"], s3=calls.options(max_workers=3))
    first = next(it)
    time.sleep(0.5)  # give the pool time to run ahead, if it would
    assert len(calls.gets) <= 3
    assert first.read() == body
    rest = [o.read() for o in it]
    assert len(rest) == 29 and len(calls.gets) == 30


def test_missing_bucket_is_one_line_and_exit_2(s3_env: str, tmp_path: Path, cli) -> None:
    code, _, err = cli("ingest", "s3://no-such-bucket/AWSLogs/", "--store",
                         str(tmp_path / "st"), "--endpoint-url", s3_env)
    assert code == 2
    assert err.strip() == "trailhound: error: s3://no-such-bucket/AWSLogs/: no such bucket"

    make_bucket()
    with pytest.raises(SourceError, match="nothing there"):
        list(discover([f"s3://{BUCKET}/AWSLogs/"]))

    code, _, err = cli("ingest", f"s3://{BUCKET}/", "--store", str(tmp_path / "st"),
                       "--profile", "no-such-profile")
    assert code == 2 and "no-such-profile" in err and len(err.strip().splitlines()) == 1


def test_access_denied_is_one_line_and_exit_2(flaky: FlakyProxy, tmp_path: Path, cli) -> None:
    make_bucket()
    put(day_key(ACCT_A, "eu-west-1", date(2026, 3, 19), "x"), ctfile([]))
    flaky.deny_listing = True
    code, _, err = cli("ingest", f"s3://{BUCKET}/AWSLogs/", "--store", str(tmp_path / "st"),
                       "--endpoint-url", flaky.url)
    assert code == 2
    assert err.startswith(f"trailhound: error: s3://{BUCKET}/AWSLogs/: access denied")
    assert len(err.strip().splitlines()) == 1


def test_endpoint_from_the_environment_or_the_flag(s3_env: str, tmp_path: Path, cli,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    make_bucket()
    put(day_key(ACCT_A, "eu-west-1", date(2026, 3, 19), "x"),
        ctfile([ct.record("ListUsers", eventID="only")]))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    code, out, err = cli("ingest", f"s3://{BUCKET}/", "--store", str(tmp_path / "a"),
                         "--endpoint-url", s3_env, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["events_stored"] == 1
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env)
    code, out, err = cli("ingest", f"s3://{BUCKET}/", "--store", str(tmp_path / "b"),
                         "--format", "json")
    assert code == 0, err
    assert json.loads(out)["events_stored"] == 1
