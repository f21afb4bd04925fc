"""A real S3-compatible server on loopback (moto), shared by every test that needs one.

    @pytest.fixture
    def s3_url(monkeypatch: pytest.MonkeyPatch) -> str:
        return fresh_bucket(monkeypatch)

The server starts once per test process, on first use; each test gets its own bucket and
the standard AWS_* variables, so code under test (and processes it spawns) find the
server exactly as they would find real S3.

moto checks `If-None-Match` / `If-Match` before it writes, but not atomically with the
write; real S3 is atomic. Requests are served one at a time so the test server keeps
S3's promise that of two conditional writers exactly one wins.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY_ID = "AKIATESTSOCIALPIPE01"
SECRET_ACCESS_KEY = "test-S3CRET-aws-key-do-not-leak-0001"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """The variables a process needs to reach this server as its S3."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> Any:
        """A boto3 client for looking behind the store's back (head_object, raw reads)."""
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )


class _OneRequestAtATime:
    """WSGI middleware: serve requests one at a time, so check-then-write is atomic."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


_started: S3Server | None = None
_start_lock = threading.Lock()
_buckets = itertools.count(1)


def shared_s3_server() -> S3Server:
    """Start moto once in this process (a daemon thread on 127.0.0.1, any free port)."""
    global _started
    with _start_lock:
        if _started is None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            class QuietHandler(MotoRequestHandler):
                def log_request(self, *args: Any, **kwargs: Any) -> None:
                    pass  # one line per request drowns a failing test's output

            app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
            server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            atexit.register(server.shutdown)
            host, port = server.server_address[:2]
            _started = S3Server(f"http://{host}:{port}")
        return _started


def fresh_bucket(monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket as `s3://<bucket>/data`, with the AWS_* variables pointing at it.

    Processes the test spawns inherit the variables and reach the same server.
    """
    server = shared_s3_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"test-bucket-{os.getpid()}-{next(_buckets)}"
    server.client().create_bucket(Bucket=bucket)
    return f"s3://{bucket}/data"
