"""The platforms' OAuth token endpoints: refresh, code exchange, Meta extension and health.

Parameter names and answer shapes are the platforms' own (platform-apis.md, section 7):
TikTok calls the client id `client_key`; X authenticates confidential clients with HTTP
Basic and public ones with `client_id` alone; Meta has no refresh token but extends a
long-lived token with `fb_exchange_token` and reports health at `debug_token`.

Every secret this client is given or receives (client secret, codes, tokens) is added to
its `Redactor`, so errors and logs never carry one. Nothing is retried here: a refresh
of a rotating token that timed out may or may not have rotated it, and only the caller
(holding the account's credential lock) can decide what to do next.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import requests

import social_pipeline.clients.errors as errors
from social_pipeline.clients.http import retry_after, utcnow
from social_pipeline.clients.redaction import Redactor, install_log_redaction
from social_pipeline.core.platforms import APP_OF

log = logging.getLogger("social_pipeline.oauth")

META = "facebook"  # the app behind both Graph platforms (APP_OF)
_REFRESH_REJECTED = {"invalid_grant", "invalid_token", "expired_token", "access_denied"}
_BAD_CLIENT = {"invalid_client", "unauthorized_client"}
_ABOUT_THE_GRANT = re.compile(r"(?i)token|grant|code|expired|revoked|invalid_request_token")
# As clients/graph.py reads them: app, user, page, custom limits; 800xx Business Use Case.
_META_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80100)})
_DETAIL_LIMIT = 300


@dataclass(frozen=True)
class TokenGrant:
    """What a token endpoint granted. `refresh_token` is None when the answer had none."""

    access_token: str = field(repr=False)
    expires_at: datetime | None  # None: the answer gave no lifetime (a Meta token that lasts)
    # The new refresh token when the platform rotated it, the same one when it echoed it.
    refresh_token: str | None = field(repr=False)
    refresh_expires_at: datetime | None
    scope: str | None  # as the platform wrote it: comma- (TikTok) or space-separated

    @property
    def scopes(self) -> list[str]:
        return [s for s in re.split(r"[,\s]+", self.scope or "") if s]


@dataclass(frozen=True)
class TokenHealth:
    """Meta's `debug_token` verdict on a user or Page token."""

    is_valid: bool
    kind: str | None  # "USER", "PAGE", "APP", ...
    expires_at: datetime | None  # None: never (Meta says 0)
    data_access_expires_at: datetime | None  # None: not reported
    scopes: tuple[str, ...]
    error: str | None = None  # Meta's reason when the token is not valid (redacted)


def login_command(platform: str, account_id: str | None) -> str:
    """The command that re-authorizes an account (`--account=` so ids like `-000abc` parse)."""
    if not account_id:
        return f"social-pipeline auth login {platform} --account <account id>"
    return f"social-pipeline auth login {platform} --account={shlex.quote(account_id)}"


class RefreshRejected(errors.AuthError):
    """The platform refused the refresh token, code or token (`invalid_grant` and friends).

    Retrying cannot help: the account's owner must authorize the app again.
    """

    def __init__(
        self,
        reason: str,
        *,
        platform: str,
        account_id: str | None,
        endpoint: str = "",
        status: int | None = None,
        grant: str = "refresh token",
    ) -> None:
        self.reason = reason
        self.grant = grant
        self.login_command = login_command(platform, account_id)
        whose = f" of account {account_id}" if account_id else ""
        super().__init__(
            f"{platform} refused the {grant}{whose} ({reason}); the account's owner must "
            f"re-authorize the app: run `{self.login_command}`",
            platform=platform,
            endpoint=endpoint,
            status=status,
            account_id=account_id,
        )


def pkce_pair() -> tuple[str, str]:
    """A PKCE `(code_verifier, code_challenge)` for `code_challenge_method=S256`."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthClient:
    """One platform app's token endpoint. Not thread-safe: one per worker."""

    def __init__(
        self,
        platform: str,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        redactor: Redactor | None = None,
    ) -> None:
        if platform not in APP_OF:
            raise ValueError(f"unknown platform {platform!r}")
        if not client_id:
            raise ValueError(f"{platform}: the app's client id is empty")
        if not client_secret and platform != "x":  # X public clients have no secret
            raise ValueError(f"{platform}: the app's client secret is empty")
        self.platform = platform
        self.app = APP_OF[platform]
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret or None
        self.timeout = timeout
        self.clock = clock
        self.redactor = redactor if redactor is not None else Redactor()
        if self.client_secret:
            self.redactor.add(self.client_secret)
        parts = urlsplit(token_url)
        self.host = parts.netloc
        self.endpoint = f"{parts.netloc}{parts.path}"  # named in errors; never a query
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- grants -----------------------------------------------------------------------

    def refresh(self, refresh_token: str, account_id: str) -> TokenGrant:
        """A new access token (and, on TikTok and X, a new refresh token: persist it first)."""
        if self.app == META:
            raise ValueError(f"{self.platform} tokens have no refresh token: use extend_meta_token")
        if not refresh_token:
            raise ValueError(f"{self.platform} account {account_id}: empty refresh token")
        self.redactor.add(refresh_token)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        body = self._request(
            "POST", self.token_url, account_id, data=self._with_client(form), grant="refresh token"
        )
        return self._grant(body, account_id)

    def exchange_code(
        self,
        code: str,
        redirect_uri: str,
        account_id: str,
        code_verifier: str | None = None,
    ) -> TokenGrant:
        """Trade the authorization code a login's redirect carried for tokens."""
        if not code:
            raise ValueError(f"{self.platform} account {account_id}: empty authorization code")
        if self.platform == "x" and not code_verifier:
            raise ValueError("x requires PKCE: pass the code_verifier the login started with")
        self.redactor.add(code)
        if code_verifier:
            self.redactor.add(code_verifier)
        if self.app == META:
            params = {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "redirect_uri": redirect_uri,
                "code": code,
            }
            body = self._request(
                "GET", self.token_url, account_id, params=params, grant="authorization code"
            )
            return self._grant(body, account_id)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        body = self._request(
            "POST",
            self.token_url,
            account_id,
            data=self._with_client(form),
            grant="authorization code",
        )
        return self._grant(body, account_id)

    def extend_meta_token(self, token: str, account_id: str) -> TokenGrant:
        """Exchange a (long-lived) Meta user token for a fresh 60-day one."""
        self._meta_only("extend_meta_token")
        self.redactor.add(token)
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "fb_exchange_token": token,
        }
        body = self._request("GET", self.token_url, account_id, params=params, grant="token")
        return self._grant(body, account_id)

    def debug_meta_token(self, token: str) -> TokenHealth:
        """Meta's view of a token: valid?, USER or PAGE, expiry (None = never), scopes."""
        self._meta_only("debug_meta_token")
        self.redactor.add(token)
        params = {
            "input_token": token,
            "access_token": f"{self.client_id}|{self.client_secret}",
        }
        body = self._request(
            "GET", self.debug_url, None, params=params, grant="token", app_token_call=True
        )
        data = body.get("data")
        if not isinstance(data, dict):
            raise errors.MalformedResponse(
                "debug_token answered without a `data` object",
                platform=self.platform,
                endpoint=self._endpoint_of(self.debug_url),
            )
        problem = data.get("error")
        reason = None
        if isinstance(problem, dict):
            reason = self._detail(problem.get("message") or problem.get("code") or "invalid")
        kind = data.get("type")
        scopes = data.get("scopes")
        return TokenHealth(
            is_valid=data.get("is_valid") is True,
            kind=kind if isinstance(kind, str) else None,
            expires_at=_epoch(data.get("expires_at")),
            data_access_expires_at=_epoch(data.get("data_access_expires_at")),
            scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
            error=reason,
        )

    @property
    def debug_url(self) -> str:
        """`.../<version>/debug_token`, the sibling of `.../<version>/oauth/access_token`."""
        parts = urlsplit(self.token_url)
        suffix = "/oauth/access_token"
        path = parts.path.rstrip("/")
        if not path.endswith(suffix):
            raise ValueError(
                f"{self.platform}: the token URL {self.endpoint} does not end in {suffix}; "
                "cannot tell where debug_token is"
            )
        return urlunsplit(
            (parts.scheme, parts.netloc, path[: -len(suffix)] + "/debug_token", "", "")
        )

    # -- the consent page -------------------------------------------------------------

    def authorize_url(
        self,
        authorize_base: str,
        redirect_uri: str,
        state: str,
        scope: str,
        code_challenge: str | None = None,
    ) -> str:
        """Where the account's owner grants the app access, in the platform's own terms."""
        id_name = "client_key" if self.platform == "tiktok" else "client_id"
        params: dict[str, str] = {
            id_name: self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
        }
        if self.platform == "youtube":
            # Without both, Google sends no refresh token on a second consent.
            params.update(access_type="offline", prompt="consent")
        if self.platform == "x" and not code_challenge:
            raise ValueError("x requires PKCE: pass a code_challenge (see pkce_pair)")
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        joiner = "&" if "?" in authorize_base else "?"
        return authorize_base + joiner + urlencode(params, quote_via=quote)

    # -- internals --------------------------------------------------------------------

    def _meta_only(self, what: str) -> None:
        if self.app != META:
            raise ValueError(f"{what} is for facebook and instagram, not {self.platform}")

    def _with_client(self, form: dict[str, str]) -> dict[str, Any]:
        """The form plus how this platform names and authenticates the client."""
        if self.platform == "tiktok":
            return {"client_key": self.client_id, "client_secret": self.client_secret, **form}
        if self.platform == "x":
            # Confidential clients also authenticate with HTTP Basic (see `_auth`).
            return {**form, "client_id": self.client_id}
        return {**form, "client_id": self.client_id, "client_secret": self.client_secret}

    def _auth(self) -> tuple[str, str] | None:
        if self.platform == "x" and self.client_secret:
            return (self.client_id, self.client_secret)
        return None

    def _endpoint_of(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.netloc}{parts.path}"

    def _detail(self, value: Any) -> str:
        text = self.redactor.text(str(value)).strip()
        return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."

    def _request(
        self,
        method: str,
        url: str,
        account_id: str | None,
        *,
        grant: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        app_token_call: bool = False,
    ) -> dict[str, Any]:
        endpoint = self._endpoint_of(url)
        where = {"platform": self.platform, "endpoint": endpoint, "account_id": account_id}
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                auth=self._auth(),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except (
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL,
        ):
            raise errors.PermanentError(
                f"the token URL {self._detail(url)!r} is not a usable http(s) URL; "
                "check the configured token URL",
                **where,
            ) from None
        except requests.Timeout:
            raise errors.TransientError(
                f"the token endpoint {self.host} did not answer within {self.timeout:g}s",
                **where,
            ) from None
        except requests.RequestException as exc:
            # The exception's text holds the URL, query (and so secrets) included.
            raise errors.TransientError(
                f"could not reach the token endpoint {self.host}: {self._reason(exc)}",
                **where,
            ) from None
        status = response.status_code
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = None
            if status < 400:
                raise errors.MalformedResponse(
                    f"the token endpoint {self.host} answered with something that is not JSON "
                    f"({response.headers.get('Content-Type', 'no content type')})",
                    status=status,
                    **where,
                ) from None
        graph = self.app == META
        if status < 300 and isinstance(body, dict) and not _oauth_error(body, graph=graph):
            return body
        error = self._classify(response, body, account_id, endpoint, grant, app_token_call)
        log.debug("%s", error)
        raise error

    def _reason(self, exc: requests.RequestException) -> str:
        text = self.redactor.text(str(exc))
        found = re.search(r"\[Errno -?\d+\][^'\")\]]*", text)
        return f"{type(exc).__name__}: {found.group(0).strip() if found else self._detail(text)}"

    def _classify(
        self,
        response: requests.Response,
        body: Any,
        account_id: str | None,
        endpoint: str,
        grant: str,
        app_token_call: bool,
    ) -> errors.ApiError:
        status = response.status_code
        where = {
            "platform": self.platform,
            "endpoint": endpoint,
            "account_id": account_id,
            "status": status,
        }
        problem = _oauth_error(body, graph=self.app == META) if isinstance(body, dict) else None
        if status == 429 or (
            problem is not None
            and (
                problem.meta_code in _META_RATE_LIMIT_CODES or problem.code == "rate_limit_exceeded"
            )
        ):
            return errors.RateLimited(
                f"the token endpoint {self.host} asked to slow down",
                reset_at=retry_after(response, self.clock()),
                **where,
            )
        if problem is None:
            if status >= 500:
                return errors.TransientError(
                    f"the token endpoint {self.host} failed (server error {status})",
                    reset_at=retry_after(response, self.clock()),
                    **where,
                )
            if status in (401, 403):
                return self._bad_client(f"HTTP {status}", where)
            if 300 <= status < 400:
                return errors.PermanentError(
                    f"the token endpoint {self.host} redirected instead of answering; "
                    "check the configured token URL",
                    **where,
                )
            if status < 300:
                return errors.MalformedResponse(
                    f"the token endpoint {self.host} answered without a JSON object", **where
                )
            return errors.PermanentError(
                f"the token endpoint {self.host} refused the request (HTTP {status})", **where
            )
        detail = self._detail(
            f"{problem.code}: {problem.description}" if problem.description else problem.code
        )
        code = problem.code.lower()
        if problem.meta_code is not None:
            return self._classify_meta(problem, detail, where, grant, app_token_call)
        if code in _BAD_CLIENT:
            return self._bad_client(detail, where)
        if code in _REFRESH_REJECTED or (
            code == "invalid_request" and _ABOUT_THE_GRANT.search(problem.description or "")
        ):
            return RefreshRejected(detail, grant=grant, **where)
        if code in ("temporarily_unavailable", "server_error") or status >= 500:
            return errors.TransientError(
                f"the token endpoint {self.host} failed ({detail})", **where
            )
        if status == 401:
            return self._bad_client(detail, where)
        return errors.PermanentError(
            f"the token endpoint {self.host} refused the request ({detail})", **where
        )

    def _classify_meta(
        self,
        problem: _OAuthProblem,
        detail: str,
        where: dict[str, Any],
        grant: str,
        app_token_call: bool,
    ) -> errors.ApiError:
        message = (problem.description or "").lower()
        code, sub = problem.meta_code, problem.meta_subcode
        if code == 101 or (code == 1 and "secret" in message) or "client secret" in message:
            return self._bad_client(detail, where)
        if code in (102, 190):  # the session behind the token is gone
            if app_token_call:  # debug_token's own access token is the app's id|secret
                return self._bad_client(detail, where)
            return RefreshRejected(detail, grant=grant, **where)
        if code == 100 and (
            sub in (36007, 36008, 36009)
            or ("code" in message and "redirect" not in message)
            or "token" in message
        ):
            return RefreshRejected(detail, grant=grant, **where)
        if problem.transient or code in (1, 2):
            return errors.TransientError(
                f"the token endpoint {self.host} failed ({detail})", **where
            )
        return errors.PermanentError(
            f"the token endpoint {self.host} refused the request ({detail})", **where
        )

    def _bad_client(self, detail: str, where: dict[str, Any]) -> errors.AuthError:
        return errors.AuthError(
            f"the token endpoint {self.host} rejected the {self.app} app's client id/secret "
            f"({detail}): check the app credentials configured for {self.app}",
            **where,
        )

    def _grant(self, body: dict[str, Any], account_id: str) -> TokenGrant:
        if "access_token" not in body and isinstance(body.get("data"), dict):
            body = body["data"]  # older TikTok answers wrap the grant in `data`
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise errors.MalformedResponse(
                f"the token endpoint {self.host} answered without an access_token",
                platform=self.platform,
                endpoint=self.endpoint,
                account_id=account_id,
            )
        self.redactor.add(access)
        refresh = body.get("refresh_token")
        refresh = refresh if isinstance(refresh, str) and refresh else None
        if refresh:
            self.redactor.add(refresh)
        now = self.clock()
        refresh_ttl = body.get("refresh_expires_in", body.get("refresh_token_expires_in"))
        scope = body.get("scope")
        if isinstance(scope, list):
            scope = " ".join(str(s) for s in scope)
        return TokenGrant(
            access_token=access,
            expires_at=_after(now, body.get("expires_in")),
            refresh_token=refresh,
            refresh_expires_at=_after(now, refresh_ttl),
            scope=scope if isinstance(scope, str) else None,
        )


@dataclass(frozen=True)
class _OAuthProblem:
    code: str
    description: str | None
    meta_code: int | None = None
    meta_subcode: int | None = None
    transient: bool = False


def _oauth_error(body: dict[str, Any], *, graph: bool) -> _OAuthProblem | None:
    """The error an answer carries: RFC 6749 (`error`, `error_description`), Graph's
    `{"error": {"code": 190, ...}}`, or the API style of TikTok and Google."""
    error = body.get("error")
    if isinstance(error, str) and error:
        description = body.get("error_description")
        return _OAuthProblem(error, str(description) if description else None)
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    message = error.get("message")
    description = str(message) if message else None
    if graph and isinstance(code, int) and not isinstance(code, bool):
        sub = error.get("error_subcode")
        return _OAuthProblem(
            str(error.get("type") or "OAuthException"),
            description,
            meta_code=code,
            meta_subcode=sub if isinstance(sub, int) else None,
            transient=bool(error.get("is_transient")),
        )
    if isinstance(code, str) and code and code != "ok":  # TikTok API style
        return _OAuthProblem(code, description)
    if isinstance(code, int) and not isinstance(code, bool):  # Google API style
        reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
        if {"rateLimitExceeded", "userRateLimitExceeded"} & set(reasons):
            return _OAuthProblem("rate_limit_exceeded", description)
        return _OAuthProblem(str(error.get("status") or code), description)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _after(now: datetime, seconds: Any) -> datetime | None:
    amount = _number(seconds)
    return None if amount is None else now + timedelta(seconds=amount)


def _epoch(value: Any) -> datetime | None:
    amount = _number(value)
    if not amount:  # Meta: 0 means never
        return None
    return datetime.fromtimestamp(amount, UTC)


# urllib3 logs request URLs at DEBUG: the shared filter hides every token-bearing key.
install_log_redaction()
