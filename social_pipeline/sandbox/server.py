"""The emulator's HTTP server: loopback, keep-alive, one background thread per connection.

Each platform lives under its own path prefix (`/x/2/users/...`), so one port serves all
six and every platform's base URL is `http://127.0.0.1:<port>/<platform>`. Platform
modules (`sandbox/<platform>.py`) own their routes and wire formats; this module owns
transport, latency, fault injection, rate-limit windows and the request log. OAuth
(token lifetimes, refresh, rotation, authorization codes) lives in `oauth` (state) and
`oauth_endpoints` (each platform's token and authorize endpoints).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from social_pipeline.core.platforms import (
    PLATFORMS,
    authorize_url_env_var,
    base_url_env_var,
    token_url_env_var,
)
from social_pipeline.core.settings import SANDBOX_DEFAULT_TOKEN, SANDBOX_TOKEN_SEPARATOR
from social_pipeline.sandbox import (
    facebook,
    instagram,
    linkedin,
    oauth_endpoints,
    tiktok,
    x,
    youtube,
)
from social_pipeline.sandbox.oauth import IssuedTokens, OAuthState
from social_pipeline.sandbox.protocol import (
    FAULT_KINDS,
    Fault,
    Limiter,
    LoggedRequest,
    RateState,
    Reply,
    Request,
    SandboxConfig,
    WindowCounter,
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
        self._scoped: dict[tuple[str, float], WindowCounter] = {}
        self.faults: list[Fault] = []
        self.revoked: set[str] = set()
        # Which account a token belongs to, for APIs that know the user from the token
        # alone (TikTok Display). Sandbox tokens name their account themselves.
        self.grants: dict[tuple[str, str], str] = {}
        # Apps, issued tokens and codes; `oauth.refreshes` and `oauth.superseded_presented`
        # are what tests count.
        self.oauth = OAuthState(self.world, self.revoked, granted_account=self._granted_account)
        self.log: deque[LoggedRequest] = deque(maxlen=200_000)
        self._lock = threading.Lock()
        self._handlers = HANDLERS
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self, port: int = 0) -> Sandbox:
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        # A short poll interval: `stop()` waits for one, and tests start many emulators.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox", daemon=True
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

    def token_url(self, platform: str) -> str:
        return self.base_url(platform) + oauth_endpoints.TOKEN_PATHS[platform]

    def authorize_url(self, platform: str) -> str:
        return self.base_url(platform) + oauth_endpoints.AUTHORIZE_PATHS[platform]

    def env(self) -> dict[str, str]:
        """Every platform's `SOCIAL_PIPELINE_<PLATFORM>_BASE_URL`, then its `_TOKEN_URL` and
        `_AUTHORIZE_URL`, all pointing here (base URLs first: readers may stop after six)."""
        urls = {base_url_env_var(p): self.base_url(p) for p in PLATFORMS}
        urls.update({token_url_env_var(p): self.token_url(p) for p in PLATFORMS})
        urls.update({authorize_url_env_var(p): self.authorize_url(p) for p in PLATFORMS})
        return urls

    # -- knobs ------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; use one of {FAULT_KINDS}")
        with self._lock:
            self.faults.append(fault)
        return fault

    def revoke(self, token: str) -> None:
        """From now on, requests with this token get the platform's invalid-token answer;
        a revoked refresh token gets the token endpoint's invalid_grant."""
        self.revoked.add(token)

    def grant(self, platform: str, token: str, account_id: str) -> None:
        """Issue `token` for `account_id`, as a platform's OAuth flow would (never expires)."""
        self.grants[(platform, token)] = account_id

    def register_app(self, app: str, client_id: str, client_secret: str | None) -> None:
        """The OAuth app of `app` (facebook, x, linkedin, youtube, tiktok; Instagram uses
        the facebook app). Token endpoints accept only these credentials; an X app with an
        empty (or None) secret is a public client, with one a confidential client (HTTP Basic)."""
        self.oauth.register_app(app, client_id, client_secret)

    def issue_tokens(
        self,
        platform: str,
        account_id: str,
        *,
        access_ttl: float | timedelta | None = None,
        refresh_ttl: float | timedelta | None = None,
        kind: str = "user",
    ) -> IssuedTokens:
        """Tokens for an account as its platform's OAuth flow gives them.

        Lifetimes are the platform's real ones unless `access_ttl`/`refresh_ttl` (seconds
        or a timedelta; 0: already expired) shorten these tokens; whatever a refresh or an
        extension mints later has the real lifetimes. `kind="page"` (Meta only): a Page
        token that never expires. Meta has no refresh token (`fb_exchange_token` extends).
        The tokens are random; the emulator knows their account (`account_for_token`).
        """
        grant = self.oauth.issue(
            platform, account_id, access_ttl=access_ttl, refresh_ttl=refresh_ttl, kind=kind
        )
        return self.oauth.issued(grant)

    def consent(self, platform: str, account_id: str | None) -> None:
        """The account that clicks Allow at `platform`'s authorize endpoint from now on
        (default: the world's first account of it); None: the user clicks Deny."""
        self.oauth.consent(platform, account_id)

    def account_for_token(self, platform: str, token: str | None) -> str | None:
        if token is None:
            return None
        return self._granted_account(platform, token) or self.oauth.account_for(platform, token)

    def _granted_account(self, platform: str, token: str | None) -> str | None:
        """The account of a token granted with `grant`, or of a sandbox default token."""
        if token is None:
            return None
        if (platform, token) in self.grants:
            return self.grants[(platform, token)]
        prefix, _, account_id = token.partition(SANDBOX_TOKEN_SEPARATOR)
        return account_id if prefix == SANDBOX_DEFAULT_TOKEN and account_id else None

    def token_expires_at(self, token: str | None) -> datetime | None:
        return self.oauth.access_expires_at(token)

    def requests_for(self, platform: str, path_contains: str = "") -> list[LoggedRequest]:
        return [r for r in list(self.log) if r.platform == platform and path_contains in r.path]

    def rate(self, req: Request, endpoint: str, token: str) -> RateState:
        return self.limiter.hit(req.platform, endpoint, token, req.received_at)

    def limit(
        self, scope: str, req: Request, key: tuple[str, ...], default_window_s: float
    ) -> RateState | None:
        """Count `req` against a scoped limit (SandboxConfig's `<scope>_rate_limit`)."""
        allowed = getattr(self.config, f"{scope}_rate_limit")
        limited = self.config.limited_platforms
        if allowed is None or (limited and req.platform not in limited):
            return None
        window = getattr(self.config, f"{scope}_rate_limit_window_s") or default_window_s
        with self._lock:
            counter = self._scoped.get((scope, window))
            if counter is None:
                counter = WindowCounter(allowed, window, sliding=scope == "endpoint")
                self._scoped[(scope, window)] = counter
        return counter.hit((req.platform, *key), req.received_at)

    # -- dispatch ---------------------------------------------------------------------

    def dispatch(self, req: Request) -> Reply:
        module = self._handlers[req.platform]
        if oauth_endpoints.serves(req):
            # Client credentials, not bearer tokens: no token checks, no API rate limits.
            fault = self._take_fault(req, None, oauth=True)
            if fault is not None:
                return self._fault_reply(module, fault, req)
            return oauth_endpoints.handle(req, self.oauth)
        token = module.token_of(req)
        fault = self._take_fault(req, token)
        if fault is not None:
            return self._fault_reply(module, fault, req)
        if not token or token in self.revoked:
            return module.fault_reply("auth", req, self, None)
        if self.oauth.access_expired(token):
            return module.fault_reply("expired", req, self, None)
        return module.handle(req, self)

    def _fault_reply(self, module: Any, fault: Fault, req: Request) -> Reply:
        if fault.kind == "malformed":
            return Reply(
                200,
                raw=b"<html><body>502 Bad Gateway</body></html>",
                headers={"Content-Type": "text/html"},
            )
        return module.fault_reply(fault.kind, req, self, req.received_at + fault.reset_in)

    def _take_fault(self, req: Request, token: str | None, *, oauth: bool = False) -> Fault | None:
        """The first fault matching the request. An OAuth endpoint is only hit by a fault
        whose `path_contains` names it."""
        with self._lock:
            for fault in self.faults:
                if oauth and not fault.path_contains:
                    continue
                if fault.matches(req, None if oauth else token):
                    fault.times -= 1
                    return fault
        return None


def _loggable_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers for the request log: an Authorization value keeps only its scheme."""
    logged = dict(headers)
    if "authorization" in logged:
        scheme, space, _ = logged["authorization"].strip().partition(" ")
        logged["authorization"] = scheme if space else "***"
    return logged


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
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                form: dict[str, str] = {}
                if raw and content_type.lower() == "application/x-www-form-urlencoded":
                    text = raw.decode("utf-8", errors="replace")
                    form = dict(parse_qsl(text, keep_blank_values=True))
                req = Request(
                    platform=platform,
                    method=self.command,
                    path="/" + rest,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    received_at=received,
                    raw_body=raw,
                    form=form,
                )
                if sandbox.config.latency_ms:
                    time.sleep(sandbox.config.latency_ms / 1000)
                try:
                    reply = sandbox.dispatch(req)
                except Exception as exc:  # an emulator bug must look like a 500, not hang
                    reply = Reply(500, {"error": {"message": f"emulator error: {exc!r}"}})
                logged_body = body if body is not None or not form else form
                sandbox.log.append(
                    LoggedRequest(
                        platform,
                        self.command,
                        req.path,
                        req.query,
                        logged_body,
                        received,
                        reply.status,
                        _loggable_headers(req.headers),
                        time.time(),
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
