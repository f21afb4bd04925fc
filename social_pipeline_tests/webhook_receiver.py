"""A loopback stand-in for a Slack-compatible incoming webhook: it keeps what is posted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """What was posted (`payloads`, raw `bodies`), and the status the next answers carry."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self.status = 200
        self.url = ""

    @property
    def texts(self) -> list[str]:
        return [p.get("text", "") for p in self.payloads]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 at a free port; `receiver.url` is the webhook URL."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.bodies.append(body)
            receiver.content_types.append(self.headers.get("Content-Type", ""))
            receiver.payloads.append(json.loads(body))
            self.send_response(receiver.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
