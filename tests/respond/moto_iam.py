"""moto's IAM over HTTP on loopback, and a proxy that fails one request on the wire.

moto runs as a real HTTP server (`ThreadedMotoServer` on 127.0.0.1, a free port); every call
`respond` makes goes through boto3 over that socket. The only thing set up behind moto's back is
the access key ids: IAM assigns random ids, and the incident's keys have the simulated ids, so
after creating a key over HTTP the test renames it in moto's backend.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def iam(url: str) -> Any:
    import boto3

    return boto3.client("iam", endpoint_url=url, region_name="us-east-1")


def create_key(url: str, user: str, key_id: str | None = None) -> str:
    """Create a key over HTTP; give it `key_id` (the simulated id) in moto's backend."""
    from moto.iam.models import iam_backends

    made = iam(url).create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    if key_id is None:
        return made
    for account in iam_backends.values():
        backend = account["aws"]
        if made in backend.access_keys:
            obj = backend.access_keys.pop(made)
            obj.access_key_id = key_id
            backend.access_keys[key_id] = obj
            return key_id
    raise AssertionError(f"moto did not keep key {made}")


class FailOnce:
    """An HTTP proxy in front of moto that answers AccessDenied to the first request for
    `action`, then forwards everything: a real failure on the wire, not a patched call."""

    def __init__(self, upstream: str, action: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.action = action.encode()
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.failed == 0 and b"Action=" + proxy.action + b"&" in body + b"&":
                    proxy.failed += 1
                    msg = (b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
                           b"<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>"
                           b"injected by the test proxy</Message></Error>"
                           b"<RequestId>test</RequestId></ErrorResponse>")
                    self.send_response(403)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "content-length")}
                conn.request("POST", self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
