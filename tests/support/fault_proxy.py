"""A fault-injecting HTTP proxy for an S3 endpoint: what a flaky network and a struggling store do.

Each request independently meets one fault with probability ``rate`` (seeded, so a trial replays):

* ``500`` / ``503``: an S3 error response (InternalError / SlowDown); the store never saw the request.
* ``reset_before``: the connection is reset before the request reaches the store.
* ``reset_after``: the store did the work, then the connection is reset before the answer (a lost reply:
  the write happened, the client does not know).
* ``stall``: the connection is accepted and held silent for ``stall_s``, then closed.
* ``truncate``: the store answered; the client gets the headers and half the body, then a closed connection.

Why our own: the failure modes that lose data are the ones between "the store did it" and "the client
knows", and no mock of boto3 reaches them; a real socket between boto3 and a real S3 server does.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import random
import socket
import struct
import threading
import time
from urllib.parse import urlparse

FAULTS = ("500", "503", "reset_before", "reset_after", "stall", "truncate")
_ERROR_XML = ("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected by the fault "
              "proxy</Message><RequestId>fault</RequestId></Error>")  # fmt: skip
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}


class FaultProxy:
    """``with FaultProxy(upstream, rate=0.07, seed=1) as proxy:`` then point boto3 at ``proxy.url``."""

    def __init__(self, upstream: str, rate: float = 0.07, seed: int = 0, faults: tuple[str, ...] = FAULTS,
                 stall_s: float = 2.0):  # fmt: skip
        target = urlparse(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.rate, self.faults, self.stall_s = rate, faults, stall_s
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.injected: collections.Counter[str] = collections.Counter()
        self.enabled = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _draw(self) -> str | None:
        with self.lock:
            self.requests += 1
            if not self.enabled or self.random.random() >= self.rate:
                return None
            fault = self.random.choice(self.faults)
            self.injected[fault] += 1
            return fault

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def _send_error_xml(self, status: int, code: str) -> None:
                body = _ERROR_XML.format(code=code).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    if body or self.command in ("PUT", "POST"):
                        headers["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    return response.status, response.getheaders(), data
                finally:
                    upstream.close()

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._draw()
                if fault in ("500", "503"):
                    self._send_error_xml(int(fault), "InternalError" if fault == "500" else "SlowDown")
                    return
                if fault == "reset_before":
                    self._reset()
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_s)
                    self._reset()
                    return
                status, headers, data = self._forward(body)
                if fault == "reset_after":
                    self._reset()
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() in _HOP_BY_HOP or (name.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "truncate" and data:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._reset()
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        return Handler
