"""The emulator's HTTP server: loopback, keep-alive, one background thread per connection.

Each platform lives under its own path prefix (`/x/2/users/...`), so one port serves all
six and every platform's base URL is `http://127.0.0.1:<port>/<platform>`. Platform
modules (`sandbox/<platform>.py`) own their routes and wire formats; this module owns
transport, latency, fault injection, rate-limit windows and the request log.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from social_pipeline.core.platforms import PLATFORMS, base_url_env_var
from social_pipeline.core.settings import SANDBOX_DEFAULT_TOKEN, SANDBOX_TOKEN_SEPARATOR
from social_pipeline.sandbox import facebook, instagram, linkedin, tiktok, x, youtube
from social_pipeline.sandbox.protocol import (
    FAULT_KINDS,
    Fault,
    Limiter,
    LoggedRequest,
    RateState,
    Reply,
    Request,
    SandboxConfig,
)
from social_pipeline.sandbox.world import World

# Each platform module owns its routes and wire formats (`handle`, `token_of`, `fault_reply`).
HANDLERS = {
    "facebook": facebook,
    "instagram": instagram,
    "x": x,
    "linkedin": linkedin,
    "tiktok": tiktok,
    "youtube": youtube,
}


class Sandbox:
    """The emulator: `with Sandbox() as sb:` serves all six APIs on a loopback port."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.world = World(
            accounts_per_platform=self.config.accounts_per_platform,
            posts_per_day=self.config.posts_per_day,
            seed=self.config.seed,
            clock=clock or (lambda: datetime.now(UTC)),
        )
        self.limiter = Limiter(self.config.rate_limit, self.config.rate_limit_window_s)
        self.faults: list[Fault] = []
        self.revoked: set[str] = set()
        # Which account a token belongs to, for APIs that know the user from the token
        # alone (TikTok Display). Sandbox tokens name their account themselves.
        self.grants: dict[tuple[str, str], str] = {}
        self.log: deque[LoggedRequest] = deque(maxlen=200_000)
        self._lock = threading.Lock()
        self._handlers = HANDLERS
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self, port: int = 0) -> Sandbox:
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "sandbox not started"
        return self._server.server_address[1]

    def base_url(self, platform: str) -> str:
        return f"http://127.0.0.1:{self.port}/{platform}"

    def env(self) -> dict[str, str]:
        """`SOCIAL_PIPELINE_<PLATFORM>_BASE_URL` for every platform, pointing here."""
        return {base_url_env_var(p): self.base_url(p) for p in PLATFORMS}

    # -- knobs ------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; use one of {FAULT_KINDS}")
        with self._lock:
            self.faults.append(fault)
        return fault

    def revoke(self, token: str) -> None:
        """From now on, requests with this token get the platform's invalid-token answer."""
        self.revoked.add(token)

    def grant(self, platform: str, token: str, account_id: str) -> None:
        """Issue `token` for `account_id`, as a platform's OAuth flow would."""
        self.grants[(platform, token)] = account_id

    def account_for_token(self, platform: str, token: str | None) -> str | None:
        if token is None:
            return None
        if (platform, token) in self.grants:
            return self.grants[(platform, token)]
        prefix, _, account_id = token.partition(SANDBOX_TOKEN_SEPARATOR)
        return account_id if prefix == SANDBOX_DEFAULT_TOKEN and account_id else None

    def requests_for(self, platform: str, path_contains: str = "") -> list[LoggedRequest]:
        return [r for r in list(self.log) if r.platform == platform and path_contains in r.path]

    def rate(self, req: Request, endpoint: str, token: str) -> RateState:
        return self.limiter.hit(req.platform, endpoint, token, req.received_at)

    # -- dispatch ---------------------------------------------------------------------

    def dispatch(self, req: Request) -> Reply:
        module = self._handlers[req.platform]
        token = module.token_of(req)
        fault = self._take_fault(req, token)
        if fault is not None:
            if fault.kind == "malformed":
                return Reply(
                    200,
                    raw=b"<html><body>502 Bad Gateway</body></html>",
                    headers={"Content-Type": "text/html"},
                )
            return module.fault_reply(fault.kind, req, self, req.received_at + fault.reset_in)
        if not token or token in self.revoked:
            return module.fault_reply("auth", req, self, None)
        return module.handle(req, self)

    def _take_fault(self, req: Request, token: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(req, token):
                    fault.times -= 1
                    return fault
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without this, keep-alive plus delayed ACK costs ~40 ms per request.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the request log is `Sandbox.log`; stderr noise helps no one

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            platform, _, rest = parts.path.lstrip("/").partition("/")
            received = time.time()
            if platform not in PLATFORMS:
                reply = Reply(404, {"error": f"unknown platform prefix {platform!r}"})
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                req = Request(
                    platform=platform,
                    method=self.command,
                    path="/" + rest,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    received_at=received,
                )
                if sandbox.config.latency_ms:
                    time.sleep(sandbox.config.latency_ms / 1000)
                try:
                    reply = sandbox.dispatch(req)
                except Exception as exc:  # an emulator bug must look like a 500, not hang
                    reply = Reply(500, {"error": {"message": f"emulator error: {exc!r}"}})
                sandbox.log.append(
                    LoggedRequest(
                        platform, self.command, req.path, req.query, body, received, reply.status
                    )
                )
            payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json; charset=UTF-8", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
