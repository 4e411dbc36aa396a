"""An S3 endpoint that fails: 500 InternalError, 503 SlowDown (throttling), connections
closed before any answer, and connections reset, on listings and on GETs alike. The ingest
retries and finishes with exactly the events a local ingest of the same objects gives, and
quarantines nothing.

moto's S3 server runs on loopback behind a small proxy that fails the first attempt at every
request path (the kind of fault varies by path), then forwards. (tests/sources/test_s3.py
covers bodies cut half way and objects that never download.)
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

import cloudtrail as ct
from aws_test_env import isolate_aws_env, running_moto
from trailhound.sources.s3 import S3Options
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

FAULTS = ("500", "503", "drop", "reset")
BUCKET = "trail"


class FaultyProxy:
    def __init__(self, upstream: str, failures_per_path: int = 1) -> None:
        up = urlparse(upstream)
        self.seen: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, code: str) -> None:
                body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                        "<Message>injected</Message></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def forward(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                with lock:
                    attempt = proxy.seen[self.path]
                    proxy.seen[self.path] += 1
                if attempt < failures_per_path:
                    fault = FAULTS[(zlib.crc32(self.path.encode()) + attempt) % len(FAULTS)]
                    with lock:
                        proxy.faults[fault] += 1
                    if fault == "500":
                        return self.reply(500, "InternalError")
                    if fault == "503":
                        return self.reply(503, "SlowDown")
                    if fault == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                    self.close_connection = True  # "drop" and "reset": no answer at all
                    return None
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length",
                                         "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None

            do_GET = do_HEAD = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    isolate_aws_env(monkeypatch, tmp_path, region="us-east-1", credentials=True)
    with running_moto() as url:
        yield url


def rows(store: Store) -> list[tuple]:
    return store.connect().execute("SELECT event_id, raw FROM events ORDER BY 1").fetchall()


def test_500s_throttling_and_dropped_connections_are_retried(moto_url: str, tmp_path: Path
                                                             ) -> None:
    import boto3

    local = tmp_path / "local"
    for k in range(10):
        ct.write_aws_layout(local, [ct.record("ListUsers", eventID=f"e-{k}-{i}")
                                    for i in range(30)], stamp=f"20260319T{k:02d}00Z")
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for p in sorted(local.rglob("*.json.gz")):
        s3.put_object(Bucket=BUCKET, Key=p.relative_to(local).as_posix(), Body=p.read_bytes())
    expected_store = Store(tmp_path / "expected", create=True)
    ingest([str(local)], expected_store)

    proxy = FaultyProxy(moto_url)
    try:
        st = Store(tmp_path / "st", create=True)
        stats = ingest([f"s3://{BUCKET}/"], st, s3=S3Options(
            endpoint_url=proxy.url, retries=5, max_workers=4))
    finally:
        proxy.close()
    assert set(proxy.faults) == set(FAULTS), proxy.faults  # every kind was injected
    assert sum(proxy.faults.values()) >= 10
    assert stats.objects_quarantined == 0, stats.quarantine
    assert stats.events_stored == 300
    assert rows(st) == rows(expected_store)
