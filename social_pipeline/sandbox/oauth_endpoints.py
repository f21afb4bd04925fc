"""The platforms' OAuth endpoints on their own wire formats, over `oauth.OAuthState`.

Paths are relative to each platform's prefix, like the APIs (platform-apis.md section 7):

| platform | token endpoint | authorize endpoint |
|---|---|---|
| tiktok | `POST /v2/oauth/token/` | `GET /v2/auth/authorize/` |
| youtube | `POST /token` | `GET /o/oauth2/v2/auth` |
| x | `POST /2/oauth2/token` | `GET /i/oauth2/authorize` (PKCE required) |
| linkedin | `POST /oauth/v2/accessToken` | `GET /oauth/v2/authorization` |
| facebook, instagram | `GET /{version}/oauth/access_token`, `GET /{version}/debug_token` | `GET /{version}/dialog/oauth` |

Token endpoints take `application/x-www-form-urlencoded` bodies (Graph: the query) and
authenticate the app by its client credentials, never by a bearer token, so the server
sends them here before its token checks and rate limits. Authorize endpoints approve at
once for the consenting account (`OAuthState.consent`) and answer 302 to the
`redirect_uri` with `code` and `state`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from social_pipeline.core.platforms import GRAPH_OAUTH_VERSION, LOGIN_SCOPES
from social_pipeline.sandbox import graph, tiktok
from social_pipeline.sandbox.oauth import (
    DATA_ACCESS_TTL,
    Grant,
    GrantRefused,
    OAuthState,
)
from social_pipeline.sandbox.protocol import Reply, Request

TOKEN_PATHS: dict[str, str] = {
    "facebook": f"/{GRAPH_OAUTH_VERSION}/oauth/access_token",
    "instagram": f"/{GRAPH_OAUTH_VERSION}/oauth/access_token",
    "x": "/2/oauth2/token",
    "linkedin": "/oauth/v2/accessToken",
    "youtube": "/token",
    "tiktok": "/v2/oauth/token/",
}
AUTHORIZE_PATHS: dict[str, str] = {
    "facebook": f"/{GRAPH_OAUTH_VERSION}/dialog/oauth",
    "instagram": f"/{GRAPH_OAUTH_VERSION}/dialog/oauth",
    "x": "/i/oauth2/authorize",
    "linkedin": "/oauth/v2/authorization",
    "youtube": "/o/oauth2/v2/auth",
    "tiktok": "/v2/auth/authorize/",
}
_GRAPH_OAUTH = re.compile(r"^/v\d+\.\d+/(oauth/access_token|debug_token|dialog/oauth)$")
APPLICATION_NAME = "social-pipeline sandbox"


def serves(req: Request) -> bool:
    """Whether the request is for an OAuth endpoint (not a data API)."""
    if req.platform in ("facebook", "instagram"):
        return _GRAPH_OAUTH.match(req.path) is not None
    return req.path in (TOKEN_PATHS[req.platform], AUTHORIZE_PATHS[req.platform])


def handle(req: Request, state: OAuthState) -> Reply:
    if req.platform in ("facebook", "instagram"):
        match = _GRAPH_OAUTH.match(req.path)
        assert match is not None
        what = match.group(1)
        if what == "dialog/oauth":
            return _authorize(req, state)
        if what == "debug_token":
            return _debug_token(req, state)
        return _graph_access_token(req, state)
    if req.path == AUTHORIZE_PATHS[req.platform]:
        return _authorize(req, state)
    return DIALECTS[req.platform].token(req, state)


# -- authorize --------------------------------------------------------------------------

# The client parameter and what the redirect carries when the user clicks Deny.
_CLIENT_PARAM = {"tiktok": "client_key"}
_DENIED: dict[str, dict[str, str]] = {
    "facebook": {
        "error": "access_denied",
        "error_code": "200",
        "error_description": "Permissions error",
        "error_reason": "user_denied",
    },
    "x": {"error": "access_denied"},
    "linkedin": {
        "error": "user_cancelled_authorize",
        "error_description": "The user cancelled the authorization",
    },
    "youtube": {"error": "access_denied"},
    "tiktok": {"error": "access_denied", "error_description": "The user denied the request."},
}


def _authorize(req: Request, state: OAuthState) -> Reply:
    """Auto-approve as the consenting account: 302 to `redirect_uri?code=&state=`.

    An unknown client or a missing `redirect_uri` cannot be redirected (the platform
    shows an error page): the emulator answers 400 with a JSON error instead.
    """
    platform, q = req.platform, req.query
    app = state.app_for(platform)
    client_id = q.get(_CLIENT_PARAM.get(platform, "client_id"), "")
    if req.method != "GET":
        return Reply(405, {"error": "invalid_request", "error_description": "Use GET"})
    if app is None or client_id != app.client_id:
        return Reply(400, {"error": "invalid_client", "error_description": "Unknown client"})
    redirect_uri = q.get("redirect_uri", "")
    if not redirect_uri:
        return Reply(400, {"error": "invalid_request", "error_description": "redirect_uri"})
    meta = platform in ("facebook", "instagram")
    extra = {"state": q["state"]} if "state" in q else {}
    if q.get("response_type", "code" if meta else "") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **extra})
    challenge = q.get("code_challenge", "")
    method = q.get("code_challenge_method", "plain" if challenge else "")
    if (platform == "x" and not challenge) or (
        challenge and method.upper() not in ("S256", "PLAIN")
    ):
        return _redirect(redirect_uri, {"error": "invalid_request", **extra})
    # Emulator only: `account_id=` picks who is signed in at the consent page.
    account_id = q.get("account_id") or state.consenting_account(platform)
    if account_id is not None and state.world.account(platform, account_id) is None:
        return Reply(400, {"error": "invalid_request", "error_description": "no such account"})
    if account_id is None:
        return _redirect(redirect_uri, {**_DENIED["facebook" if meta else platform], **extra})
    code = state.new_code(
        platform,
        account_id,
        client_id,
        redirect_uri,
        q.get("scope") or LOGIN_SCOPES[platform],
        code_challenge=challenge,
        code_challenge_method=method,
        offline=platform != "youtube" or q.get("access_type") == "offline",
    )
    return _redirect(redirect_uri, {"code": code, **extra})


def _redirect(uri: str, params: dict[str, str]) -> Reply:
    location = uri + ("&" if "?" in uri else "?") + urlencode(params)
    return Reply(302, headers={"Location": location, "Content-Type": "text/html"}, raw=b"")


# -- token endpoints of the refreshable platforms ---------------------------------------


class Dialect:
    """How one platform's token endpoint reads a request and words its answers."""

    platform: str
    client_id_param = "client_id"

    # What a refused grant says, by GrantRefused reason: (error, description).
    refresh_refused: tuple[str, str]
    code_refused: dict[str, tuple[str, str]]

    def token(self, req: Request, state: OAuthState) -> Reply:
        if req.method != "POST":
            return self.error(405, "invalid_request", "The token endpoint takes POST")
        params = {**req.query, **req.form}
        client = self.client(req, params, state)
        if isinstance(client, Reply):
            return client
        grant_type = params.get("grant_type", "")
        try:
            if grant_type == "refresh_token":
                if not params.get("refresh_token"):
                    return self.missing("refresh_token")
                grant = state.refresh(self.platform, params["refresh_token"], client)
                return Reply(200, self.answer(grant, state, by_code=False))
            if grant_type == "authorization_code":
                for name in ("code", "redirect_uri"):
                    if not params.get(name):
                        return self.missing(name)
                grant = state.redeem(
                    self.platform,
                    params["code"],
                    client,
                    params["redirect_uri"],
                    params.get("code_verifier", ""),
                )
                return Reply(200, self.answer(grant, state, by_code=True))
        except GrantRefused as refused:
            if grant_type == "refresh_token":
                return self.error(400, *self.refresh_refused)
            return self.error(400, *self.code_refused[refused.reason])
        return self.unsupported_grant(grant_type)

    def client(self, req: Request, params: dict[str, str], state: OAuthState) -> str | Reply:
        """The authenticated client id, or the platform's invalid-client answer."""
        app = state.app_for(self.platform)
        client_id = params.get(self.client_id_param, "")
        if app is None or client_id != app.client_id:
            return self.unknown_client()
        if params.get("client_secret", "") != app.client_secret:
            return self.wrong_secret()
        return client_id

    def answer(self, grant: Grant, state: OAuthState, *, by_code: bool) -> dict[str, Any]:
        raise NotImplementedError

    def error(self, status: int, error: str, description: str) -> Reply:
        return Reply(status, {"error": error, "error_description": description})

    def unknown_client(self) -> Reply:
        return self.error(401, "invalid_client", "Client authentication failed")

    def wrong_secret(self) -> Reply:
        return self.unknown_client()

    def missing(self, name: str) -> Reply:
        return self.error(400, "invalid_request", f"Missing required parameter: {name}")

    def unsupported_grant(self, grant_type: str) -> Reply:
        return self.error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")


class TikTok(Dialect):
    """`{access_token, expires_in, open_id, refresh_token, refresh_expires_in, scope,
    token_type}`; errors `{error, error_description, log_id}`. Rotates refresh tokens."""

    platform = "tiktok"
    client_id_param = "client_key"
    refresh_refused = ("invalid_grant", "Refresh token is invalid or expired.")
    code_refused = {
        "unknown_code": ("invalid_grant", "Authorization code is invalid."),
        "used_code": ("invalid_grant", "Authorization code has been used."),
        "expired_code": ("invalid_grant", "Authorization code is expired."),
        "redirect_uri": ("invalid_grant", "Redirect URI does not match the authorization."),
        "code_verifier": ("invalid_grant", "Code verifier is invalid."),
    }

    def answer(self, grant: Grant, state: OAuthState, *, by_code: bool) -> dict[str, Any]:
        now = state.world.clock()
        assert grant.refresh is not None
        body: dict[str, Any] = {
            "access_token": grant.access.token,
            "expires_in": grant.access.seconds_left(now),
            "open_id": grant.account_id,
            "refresh_token": grant.refresh.token,
        }
        if grant.refresh.expires_at is not None:
            body["refresh_expires_in"] = grant.refresh.seconds_left(now)
        return body | {"scope": grant.access.scope, "token_type": "Bearer"}

    def error(self, status: int, error: str, description: str) -> Reply:
        body = {"error": error, "error_description": description, "log_id": tiktok.log_id()}
        return Reply(400 if status == 401 else status, body)

    def unknown_client(self) -> Reply:
        return self.error(400, "invalid_client", "Client key or secret is incorrect.")


class Google(Dialect):
    """`oauth2.googleapis.com/token`: `{access_token, expires_in, scope, token_type}`, plus
    `refresh_token` from a code. Client credentials in the form or as HTTP Basic."""

    platform = "youtube"
    refresh_refused = ("invalid_grant", "Token has been expired or revoked.")
    code_refused = {
        "unknown_code": ("invalid_grant", "Malformed auth code."),
        "used_code": ("invalid_grant", "Bad Request"),
        "expired_code": ("invalid_grant", "Bad Request"),
        "redirect_uri": ("redirect_uri_mismatch", "Bad Request"),
        "code_verifier": ("invalid_grant", "Invalid code verifier."),
    }

    def client(self, req: Request, params: dict[str, str], state: OAuthState) -> str | Reply:
        basic = req.basic_auth()
        if basic is not None:
            params = {**params, "client_id": basic[0], "client_secret": basic[1]}
        return super().client(req, params, state)

    def answer(self, grant: Grant, state: OAuthState, *, by_code: bool) -> dict[str, Any]:
        now = state.world.clock()
        body: dict[str, Any] = {
            "access_token": grant.access.token,
            "expires_in": grant.access.seconds_left(now),
            "scope": grant.access.scope,
            "token_type": "Bearer",
        }
        refresh = grant.refresh
        if by_code and refresh is not None:  # a refresh answer does not repeat it
            body["refresh_token"] = refresh.token
        if refresh is not None and refresh.expires_at is not None:
            # Only for time-limited grants (apps in "Testing" status, time-based access).
            body["refresh_token_expires_in"] = refresh.seconds_left(now)
        return body

    def unknown_client(self) -> Reply:
        return self.error(401, "invalid_client", "The OAuth client was not found.")

    def wrong_secret(self) -> Reply:
        return self.error(401, "invalid_client", "Unauthorized")


class X(Dialect):
    """`api.x.com/2/oauth2/token`: `{token_type, expires_in, access_token, scope,
    refresh_token}`. A confidential client (an app registered with a secret) must send
    HTTP Basic `client_id:client_secret`; a public one sends `client_id` in the form.
    Rotates refresh tokens; refuses a bad one with `invalid_request`."""

    platform = "x"
    refresh_refused = ("invalid_request", "Value passed for the token was invalid.")
    _bad_code = ("invalid_request", "Value passed for the authorization code was invalid.")
    code_refused = {
        "unknown_code": _bad_code,
        "used_code": _bad_code,
        "expired_code": _bad_code,
        "redirect_uri": _bad_code,
        "code_verifier": _bad_code,
    }

    def client(self, req: Request, params: dict[str, str], state: OAuthState) -> str | Reply:
        app = state.app_for(self.platform)
        if app is None:
            return self.unknown_client()
        if app.client_secret:
            if req.basic_auth() != (app.client_id, app.client_secret):
                return self.unknown_client()
        elif params.get("client_id") != app.client_id:
            return self.unknown_client()
        return app.client_id

    def answer(self, grant: Grant, state: OAuthState, *, by_code: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": grant.access.seconds_left(state.world.clock()),
            "access_token": grant.access.token,
            "scope": grant.access.scope,
        }
        if grant.refresh is not None:  # only with the `offline.access` scope
            body["refresh_token"] = grant.refresh.token
        return body

    def unknown_client(self) -> Reply:
        return self.error(401, "unauthorized_client", "Missing valid authorization header")

    def unsupported_grant(self, grant_type: str) -> Reply:
        return self.error(400, "invalid_request", "Value passed for the grant type was invalid.")


class LinkedIn(Dialect):
    """`www.linkedin.com/oauth/v2/accessToken`: `{access_token, expires_in, refresh_token,
    refresh_token_expires_in}`; the refresh token and its expiry stay those of the first
    grant (refreshing does not extend it)."""

    platform = "linkedin"
    refresh_refused = (
        "invalid_grant",
        "The provided authorization grant or refresh token is invalid, expired or revoked.",
    )
    _bad_code = (
        "invalid_request",
        "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
        "authorization code. Or authorization code expired. Or external member binding exists",
    )
    code_refused = {
        "unknown_code": _bad_code,
        "used_code": _bad_code,
        "expired_code": _bad_code,
        "redirect_uri": _bad_code,
        "code_verifier": _bad_code,
    }

    def answer(self, grant: Grant, state: OAuthState, *, by_code: bool) -> dict[str, Any]:
        now = state.world.clock()
        assert grant.refresh is not None and grant.refresh.expires_at is not None
        body: dict[str, Any] = {
            "access_token": grant.access.token,
            "expires_in": grant.access.seconds_left(now),
            "refresh_token": grant.refresh.token,
            "refresh_token_expires_in": grant.refresh.seconds_left(now),
        }
        if by_code:
            body["scope"] = grant.access.scope
        return body


DIALECTS: dict[str, Dialect] = {d.platform: d for d in (TikTok(), Google(), X(), LinkedIn())}


# -- Graph: oauth/access_token and debug_token ------------------------------------------


def _graph_client(params: dict[str, str], state: OAuthState, platform: str) -> str | Reply:
    app = state.app_for(platform)
    if app is None or params.get("client_id") != app.client_id:
        return graph.error_reply(400, 101, "Error validating application. Invalid application ID.")
    if params.get("client_secret") != app.client_secret:
        return graph.error_reply(400, 1, "Error validating client secret.")
    return app.client_id


def _graph_access_token(req: Request, state: OAuthState) -> Reply:
    """`fb_exchange_token` (extend a user token) or the code exchange; both answer
    `{access_token, token_type: "bearer", expires_in}`."""
    params = {**req.query, **req.form}
    client = _graph_client(params, state, req.platform)
    if isinstance(client, Reply):
        return client
    grant_type = params.get("grant_type", "")
    if grant_type == "fb_exchange_token":
        return _graph_extend(req, state, params.get("fb_exchange_token", ""))
    if grant_type not in ("", "authorization_code"):
        return graph.error_reply(
            400,
            100,
            f"Invalid grant_type: '{grant_type}'. Supported types: authorization_code, "
            "client_credentials, fb_exchange_token",
        )
    if not params.get("code"):
        return graph.error_reply(400, 100, "Missing authorization code")
    try:
        grant = state.redeem(
            req.platform,
            params["code"],
            client,
            params.get("redirect_uri", ""),
            params.get("code_verifier", ""),
        )
    except GrantRefused as refused:
        return _GRAPH_CODE_REFUSED[refused.reason]()
    return Reply(200, _graph_token_body(grant, state))


_REDIRECT_MISMATCH = (
    "Error validating verification code. Please make sure your redirect_uri is identical to "
    "the one you used in the OAuth dialog request"
)
_GRAPH_CODE_REFUSED: dict[str, Callable[[], Reply]] = {
    "unknown_code": lambda: graph.error_reply(400, 100, "Invalid verification code format."),
    "used_code": lambda: graph.error_reply(
        400, 100, "This authorization code has been used.", subcode=36009
    ),
    "expired_code": lambda: graph.error_reply(
        400, 100, "This authorization code has expired.", subcode=36007
    ),
    "redirect_uri": lambda: graph.error_reply(400, 100, _REDIRECT_MISMATCH, subcode=36008),
    "code_verifier": lambda: graph.error_reply(400, 100, "Invalid code verifier."),
}


def _graph_extend(req: Request, state: OAuthState, token: str) -> Reply:
    if not token:
        return graph.error_reply(400, 100, "Missing fb_exchange_token parameter")
    try:
        grant = state.extend(req.platform, token)
    except GrantRefused as refused:
        if refused.reason == "revoked" or (refused.reason == "unknown" and token in state.revoked):
            return graph.auth_reply(token)
        if refused.reason == "expired":
            record = state.record(token)
            assert record is not None and record.expires_at is not None
            return graph.expired_reply(record.expires_at, state.world.clock())
        if refused.reason == "page" or state.granted_account(req.platform, token):
            # Tokens granted with `Sandbox.grant` are Page tokens that never expire.
            return graph.error_reply(
                400, 100, "(#100) fb_exchange_token must be a user access token"
            )
        return graph.error_reply(400, 190, "Invalid OAuth access token - Cannot parse access token")
    return Reply(200, _graph_token_body(grant, state))


def _graph_token_body(grant: Grant, state: OAuthState) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": grant.access.token, "token_type": "bearer"}
    if grant.access.expires_at is not None:
        body["expires_in"] = grant.access.seconds_left(state.world.clock())
    return body


def _debug_token(req: Request, state: OAuthState) -> Reply:
    """`debug_token?input_token=&access_token=<app id>|<app secret>`: a token's health.

    Expired or revoked: `is_valid: false` and an `error` inside `data` (190 with subcode
    463 or 460). Tokens the emulator did not issue here (granted, or the sandbox's own)
    are Page tokens that never expire.
    """
    app = state.app_for(req.platform)
    if app is None or req.query.get("access_token") != f"{app.client_id}|{app.client_secret}":
        return graph.error_reply(400, 190, "Invalid OAuth access token signature.")
    token = req.query.get("input_token", "")
    if not token:
        return graph.error_reply(400, 100, "(#100) The parameter input_token is required")
    now = state.world.clock()
    record = state.record(token)
    account_id = record.account_id if record and record.kind == "access" else None
    account_id = account_id or state.granted_account(req.platform, token)
    if account_id is None:
        error = {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}
        return Reply(200, {"data": {"error": error, "is_valid": False, "scopes": []}})
    issued_at = record.issued_at if record else now
    data: dict[str, Any] = {
        "app_id": (record.client_id if record else None) or app.client_id,
        "type": record.token_type if record else "PAGE",
        "application": APPLICATION_NAME,
        "data_access_expires_at": int(issued_at.timestamp() + DATA_ACCESS_TTL),
        "expires_at": int(record.expires_at.timestamp()) if record and record.expires_at else 0,
        "is_valid": True,
    }
    if record is not None:
        data["issued_at"] = int(record.issued_at.timestamp())
    if data["type"] == "PAGE":
        data["profile_id"] = account_id
    scope = record.scope if record else LOGIN_SCOPES[req.platform]
    data["scopes"] = [s for s in scope.split(",") if s]
    data["user_id"] = account_id
    if token in state.revoked:
        message = graph.auth_reply(token).body["error"]["message"]
        data.update(is_valid=False, error={"code": 190, "message": message, "subcode": 460})
    elif record is not None and record.expired(now):
        assert record.expires_at is not None
        message = graph.session_expired_message(record.expires_at, now)
        data.update(is_valid=False, error={"code": 190, "message": message, "subcode": 463})
    return Reply(200, {"data": data})
