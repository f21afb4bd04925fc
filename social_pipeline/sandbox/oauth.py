"""The emulator's OAuth state: apps, issued tokens, authorization codes, their lifetimes.

Lifetimes are the platforms' own (platform-apis.md section 7) and run on the world's
clock, so a test moves time to expire a token. A test may shorten the lifetimes of the
tokens it issues (`issue(access_ttl=0)`: already expired); whatever a refresh, extension
or code exchange mints later gets the platform's real lifetimes. Rotation (X, TikTok) retires the refresh
token sent; LinkedIn's refresh token keeps the expiry of the first grant; Google's never
changes; Meta has no refresh token and extends a long-lived user token instead.

No HTTP here: `oauth_endpoints` speaks each platform's wire format over this state.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from social_pipeline.core.platforms import APP_OF, LOGIN_SCOPES, PLATFORMS, REFRESHABLE, ROTATING
from social_pipeline.sandbox.world import World

APPS = ("facebook", "x", "linkedin", "youtube", "tiktok")
DAY = 86400.0
# Seconds; None: never expires.
ACCESS_TTL: dict[str, float] = {
    "tiktok": 7200,
    "youtube": 3600,
    "x": 7200,
    "linkedin": 60 * DAY,
    "facebook": 60 * DAY,  # a long-lived user token
    "instagram": 60 * DAY,
}
REFRESH_TTL: dict[str, float | None] = {
    "tiktok": 180 * DAY,
    "youtube": None,  # until revoked (7 days for apps in "Testing" status: pass refresh_ttl)
    "x": None,
    "linkedin": 365 * DAY,  # from the first grant; refreshing does not extend it
}
# What the Graph code exchange gives: a short-lived user token, to extend with
# `fb_exchange_token` into a long-lived one.
META_SHORT_LIVED_TTL = 3600.0
# Graph's data access lapses this long after the user's last activity.
DATA_ACCESS_TTL = 90 * DAY
CODE_TTL = 600.0  # authorization codes: single use, ten minutes

_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class IssuedTokens:
    """What a grant gave an account; `None` expiry means never, `refresh_token` None: Meta."""

    access_token: str
    refresh_token: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None


@dataclass(frozen=True)
class App:
    app: str
    client_id: str
    client_secret: str  # "" for a public client (X native apps)


@dataclass
class TokenRecord:
    """One token the emulator issued. Refresh tokens of one grant share a `lineage`."""

    token: str
    platform: str
    account_id: str
    kind: str  # "access" | "refresh"
    issued_at: datetime
    expires_at: datetime | None
    scope: str
    lineage: str
    client_id: str | None = None  # the app it was issued to; None: any app of the platform
    token_type: str = "USER"  # Meta: "USER" | "PAGE"
    superseded_by: str | None = None  # rotated away: the refresh token that replaced it

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def seconds_left(self, now: datetime) -> int:
        assert self.expires_at is not None
        return max(0, round((self.expires_at - now).total_seconds()))

    def successor(self, kind: str, ttl: float | None, now: datetime) -> TokenRecord:
        """A new token of the same grant (account, scope, lineage, app), issued now."""
        return TokenRecord(
            token=_new_token(self.platform, kind),
            platform=self.platform,
            account_id=self.account_id,
            kind=kind,
            issued_at=now,
            expires_at=_after(now, ttl),
            scope=self.scope,
            lineage=self.lineage,
            client_id=self.client_id,
        )


@dataclass
class CodeRecord:
    code: str
    platform: str
    account_id: str
    client_id: str
    redirect_uri: str
    scope: str
    expires_at: datetime
    code_challenge: str = ""
    code_challenge_method: str = ""
    offline: bool = True  # Google: `access_type=offline` asks for a refresh token
    used: bool = False


@dataclass(frozen=True)
class Grant:
    """A token endpoint's success, before a platform words it."""

    platform: str
    account_id: str
    access: TokenRecord
    # The refresh token valid after the grant (a rotated one's successor); None: the
    # grant has none (Meta; X without `offline.access`; Google without access_type=offline).
    refresh: TokenRecord | None


class GrantRefused(Exception):
    """A token request the platform refuses; `reason` picks the platform's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class OAuthState:
    """Everything the token and authorize endpoints know; safe across server threads.

    Test-facing: `refreshes` counts successful refreshes and Meta extensions by
    (platform, account id); `superseded_presented` lists (platform, account id) each time
    a refresh token that had already been rotated away was presented (it is refused).
    Set `reuse_revokes_lineage` to also revoke every token of that grant on such a reuse,
    as OAuth 2.1's refresh-token reuse detection does.
    """

    world: World
    revoked: set[str]
    # Who a token the emulator did not issue here belongs to (`Sandbox.grant`, the
    # sandbox's default tokens): such tokens are never-expiring Page tokens to debug_token.
    granted_account: Callable[[str, str | None], str | None] = lambda platform, token: None
    apps: dict[str, App] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    codes: dict[str, CodeRecord] = field(default_factory=dict)
    consenting: dict[str, str | None] = field(default_factory=dict)
    refreshes: Counter[tuple[str, str]] = field(default_factory=Counter)
    superseded_presented: list[tuple[str, str]] = field(default_factory=list)
    reuse_revokes_lineage: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- set-up -----------------------------------------------------------------------

    def register_app(self, app: str, client_id: str, client_secret: str | None) -> None:
        if app not in APPS:
            hint = " (Instagram uses the facebook app)" if app == "instagram" else ""
            raise ValueError(f"unknown app {app!r}{hint}; use one of {APPS}")
        if not client_id:
            raise ValueError("client_id must not be empty")
        with self._lock:
            self.apps[app] = App(app, client_id, client_secret or "")

    def app_for(self, platform: str) -> App | None:
        return self.apps.get(APP_OF[platform])

    def consent(self, platform: str, account_id: str | None) -> None:
        """Who clicks Allow at the authorize endpoint; None: the user clicks Deny."""
        if account_id is not None:
            self._check_account(platform, account_id)
        with self._lock:
            self.consenting[platform] = account_id

    def consenting_account(self, platform: str) -> str | None:
        with self._lock:
            if platform in self.consenting:
                return self.consenting[platform]
        accounts = self.world.accounts(platform)
        return accounts[0].account_id if accounts else None

    # -- issuing ----------------------------------------------------------------------

    def issue(
        self,
        platform: str,
        account_id: str,
        *,
        access_ttl: float | timedelta | None = None,
        refresh_ttl: float | timedelta | None = None,
        kind: str = "user",
        scope: str | None = None,
        offline: bool = True,
    ) -> Grant:
        """A fresh grant for an account, with the platform's lifetimes unless overridden."""
        self._check_account(platform, account_id)
        meta = platform not in REFRESHABLE
        if kind not in ("user", "page") or (kind == "page" and not meta):
            raise ValueError(f"kind must be 'user' (or 'page' for a Meta platform), got {kind!r}")
        if meta and refresh_ttl is not None:
            raise ValueError(f"{platform} has no refresh tokens; a Meta token is extended")
        access_ttl, refresh_ttl = _seconds(access_ttl), _seconds(refresh_ttl)
        now = self.world.clock()
        app = self.app_for(platform)
        lineage = secrets.token_hex(8)
        scope = LOGIN_SCOPES[platform] if scope is None else scope
        common = {
            "platform": platform,
            "account_id": account_id,
            "issued_at": now,
            "scope": scope,
            "lineage": lineage,
            "client_id": app.client_id if app else None,
        }
        if meta:
            page = kind == "page"
            ttl = access_ttl if access_ttl is not None else (None if page else ACCESS_TTL[platform])
            access = TokenRecord(
                token=_new_token(platform, "access"),
                kind="access",
                expires_at=_after(now, ttl),
                token_type="PAGE" if page else "USER",
                **common,  # type: ignore[arg-type]
            )
            with self._lock:
                self.tokens[access.token] = access
            return Grant(platform, account_id, access, None)
        a_ttl = ACCESS_TTL[platform] if access_ttl is None else access_ttl
        r_ttl = REFRESH_TTL[platform] if refresh_ttl is None else refresh_ttl
        access = TokenRecord(
            token=_new_token(platform, "access"),
            kind="access",
            expires_at=_after(now, a_ttl),
            **common,  # type: ignore[arg-type]
        )
        refresh = None
        # X gives a refresh token only for `offline.access`, Google only for access_type=offline.
        if (platform != "x" or "offline.access" in scope.split()) and offline:
            refresh = TokenRecord(
                token=_new_token(platform, "refresh"),
                kind="refresh",
                expires_at=_after(now, r_ttl),
                **common,  # type: ignore[arg-type]
            )
        with self._lock:
            self.tokens[access.token] = access
            if refresh is not None:
                self.tokens[refresh.token] = refresh
        return Grant(platform, account_id, access, refresh)

    def issued(self, grant: Grant) -> IssuedTokens:
        refresh = grant.refresh
        return IssuedTokens(
            access_token=grant.access.token,
            refresh_token=refresh.token if refresh else None,
            access_expires_at=grant.access.expires_at,
            refresh_expires_at=refresh.expires_at if refresh else None,
        )

    # -- what the API endpoints ask ---------------------------------------------------

    def record(self, token: str | None) -> TokenRecord | None:
        if not token:
            return None
        with self._lock:
            return self.tokens.get(token)

    def access_expires_at(self, token: str | None) -> datetime | None:
        record = self.record(token)
        return record.expires_at if record and record.kind == "access" else None

    def access_expired(self, token: str | None) -> bool:
        expires = self.access_expires_at(token)
        return expires is not None and self.world.clock() >= expires

    def account_for(self, platform: str, token: str | None) -> str | None:
        record = self.record(token)
        if record is None or record.kind != "access" or record.platform != platform:
            return None
        return record.account_id

    # -- token endpoint grants --------------------------------------------------------

    def refresh(self, platform: str, refresh_token: str, client_id: str) -> Grant:
        """`grant_type=refresh_token`: a new access token (and, rotating, refresh token).

        Raises GrantRefused("invalid_grant") for an unknown, revoked, expired or
        rotated-away refresh token, or one issued to another client.
        """
        with self._lock:
            now = self.world.clock()
            old = self.tokens.get(refresh_token)
            if (
                old is None
                or old.kind != "refresh"
                or old.platform != platform
                or (old.client_id is not None and old.client_id != client_id)
            ):
                raise GrantRefused("invalid_grant")
            if old.superseded_by is not None:
                self.superseded_presented.append((platform, old.account_id))
                if self.reuse_revokes_lineage:
                    self.revoked.update(
                        t.token for t in self.tokens.values() if t.lineage == old.lineage
                    )
                raise GrantRefused("invalid_grant")
            if refresh_token in self.revoked or old.expired(now):
                raise GrantRefused("invalid_grant")
            access = old.successor("access", ACCESS_TTL[platform], now)
            self.tokens[access.token] = access
            refresh = old  # LinkedIn and Google keep theirs (Google does not send it again)
            if platform in ROTATING:
                refresh = old.successor("refresh", REFRESH_TTL[platform], now)
                self.tokens[refresh.token] = refresh
                old.superseded_by = refresh.token
            self.refreshes[(platform, old.account_id)] += 1
            return Grant(platform, old.account_id, access, refresh)

    def extend(self, platform: str, token: str) -> Grant:
        """Graph `fb_exchange_token`: a new long-lived user token; the old one lives on.

        Raises GrantRefused with "unknown", "revoked", "expired" or "page".
        """
        with self._lock:
            now = self.world.clock()
            old = self.tokens.get(token)
            if old is None or old.kind != "access" or APP_OF[old.platform] != APP_OF[platform]:
                raise GrantRefused("unknown")
            if token in self.revoked:
                raise GrantRefused("revoked")
            if old.expired(now):
                raise GrantRefused("expired")
            if old.token_type != "USER":
                raise GrantRefused("page")
            new = old.successor("access", ACCESS_TTL[old.platform], now)
            self.tokens[new.token] = new
            self.refreshes[(old.platform, old.account_id)] += 1
            return Grant(old.platform, old.account_id, new, None)

    # -- authorization codes ----------------------------------------------------------

    def new_code(
        self,
        platform: str,
        account_id: str,
        client_id: str,
        redirect_uri: str,
        scope: str,
        *,
        code_challenge: str = "",
        code_challenge_method: str = "",
        offline: bool = True,
    ) -> str:
        code = _new_code(platform)
        record = CodeRecord(
            code=code,
            platform=platform,
            account_id=account_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            expires_at=self.world.clock() + timedelta(seconds=CODE_TTL),
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            offline=offline,
        )
        with self._lock:
            self.codes[code] = record
        return code

    def redeem(
        self, platform: str, code: str, client_id: str, redirect_uri: str, code_verifier: str
    ) -> Grant:
        """`grant_type=authorization_code`: the consenting account's tokens, once per code.

        Raises GrantRefused with "unknown_code", "used_code", "expired_code",
        "redirect_uri" or "code_verifier".
        """
        with self._lock:
            record = self.codes.get(code)
            if record is None or APP_OF[record.platform] != APP_OF[platform]:
                raise GrantRefused("unknown_code")
            if record.client_id != client_id:
                raise GrantRefused("unknown_code")
            if record.used:
                raise GrantRefused("used_code")
            if self.world.clock() >= record.expires_at:
                raise GrantRefused("expired_code")
            if record.redirect_uri != redirect_uri:
                raise GrantRefused("redirect_uri")
            if record.code_challenge and not _pkce_matches(
                record.code_challenge, record.code_challenge_method, code_verifier
            ):
                raise GrantRefused("code_verifier")
            record.used = True
        meta = record.platform not in REFRESHABLE
        return self.issue(
            record.platform,
            record.account_id,
            access_ttl=META_SHORT_LIVED_TTL if meta else None,
            scope=record.scope,
            offline=record.offline,
        )

    # -- helpers ----------------------------------------------------------------------

    def _check_account(self, platform: str, account_id: str) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; use one of {PLATFORMS}")
        if self.world.account(platform, account_id) is None:
            raise ValueError(f"the emulator has no {platform} account {account_id!r}")


def pkce_challenge(verifier: str) -> str:
    """The S256 `code_challenge` of a `code_verifier` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if not verifier:
        return False
    if method.upper() == "PLAIN":
        return secrets.compare_digest(challenge, verifier)
    return secrets.compare_digest(challenge, pkce_challenge(verifier))


def _seconds(ttl: float | timedelta | None) -> float | None:
    return ttl.total_seconds() if isinstance(ttl, timedelta) else ttl


def _after(now: datetime, seconds: float | None) -> datetime | None:
    return None if seconds is None else now + timedelta(seconds=seconds)


def _alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _new_token(platform: str, kind: str) -> str:
    """A random token shaped like the platform's own (prefixes as the real ones have)."""
    if platform in ("facebook", "instagram"):
        return "EAAG" + _alnum(180)
    if platform == "tiktok":
        return ("act." if kind == "access" else "rft.") + secrets.token_urlsafe(48) + "!4731.va"
    if platform == "youtube":
        return "ya29.a0" + secrets.token_urlsafe(120) if kind == "access" else "1//0" + _alnum(100)
    if platform == "x":
        # X's tokens are base64 of `<random>:<issued ms>:1:<at|rt>:1`.
        ms = int(datetime.now().timestamp() * 1000)
        raw = f"{_alnum(43)}:{ms}:1:{'at' if kind == 'access' else 'rt'}:1"
        return base64.b64encode(raw.encode()).decode().rstrip("=")
    return ("AQV" if kind == "access" else "AQX") + secrets.token_urlsafe(200)


def _new_code(platform: str) -> str:
    if platform == "youtube":
        return "4/0" + secrets.token_urlsafe(54)
    if platform in ("facebook", "instagram"):
        return "AQ" + secrets.token_urlsafe(200)
    return secrets.token_urlsafe(48)
