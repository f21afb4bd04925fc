"""OAuth token endpoints: refresh, rotation, code exchange and Meta extension on the emulator.

Wire details (form fields, HTTP Basic, Graph's GET queries) are read from the emulator's
request log; failures are the emulator's own answers and injected faults.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from social_pipeline.clients.errors import (
    AuthError,
    MalformedResponse,
    PermanentError,
    RateLimited,
    TransientError,
)
from social_pipeline.clients.oauth import (
    OAuthClient,
    RefreshRejected,
    TokenGrant,
    TokenHealth,
    login_command,
    pkce_pair,
)
from social_pipeline.clients.redaction import Redactor
from social_pipeline.core.platforms import (
    APP_OF,
    GRAPH_OAUTH_VERSION,
    LOGIN_SCOPES,
    ROTATING,
    authorize_url_env_var,
    token_url_env_var,
)
from social_pipeline.operations.registry import client_class, make_session
from social_pipeline.sandbox.protocol import LoggedRequest
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests.helpers import FROZEN_NOW, fast_policy

REFRESHABLE = ("tiktok", "youtube", "x", "linkedin")
META = ("facebook", "instagram")
APPS = {
    "tiktok": ("tt-client-key", "tt-app-S3CRET-0001"),
    "youtube": ("g-client.apps.googleusercontent.com", "g-app-S3CRET-0001"),
    "x": ("x-client-id", "x-app-S3CRET-0001"),
    "linkedin": ("li-client-id", "li-app-S3CRET-0001"),
    "facebook": ("1234567890", "fb-app-S3CRET-0001"),
}
NOW = FROZEN_NOW  # the emulator world's clock too
REDIRECT = "http://127.0.0.1:8765/callback"


def clock() -> datetime:
    return NOW


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    for app, (client_id, secret) in APPS.items():
        sandbox.register_app(app, client_id, secret)
    return sandbox


def account(sb: Sandbox, platform: str, n: int = 0) -> str:
    return sb.world.accounts(platform)[n].account_id


def oauth(
    sb: Sandbox,
    platform: str,
    *,
    secret: str | None = "default",
    client_id: str | None = None,
    redactor: Redactor | None = None,
) -> OAuthClient:
    app_id, app_secret = APPS[APP_OF[platform]]
    return OAuthClient(
        platform,
        sb.env()[token_url_env_var(platform)],
        client_id or app_id,
        app_secret if secret == "default" else secret,
        clock=clock,
        timeout=10.0,
        redactor=redactor,
    )


def assert_clean(text: str, *secrets: str | None) -> None:
    for secret in [*secrets, *(s for _, s in APPS.values())]:
        if secret:
            assert secret not in text, f"a secret leaked into: {text}"


def token_path(sb: Sandbox, platform: str) -> str:
    """The token endpoint's path below the platform prefix, as the request log has it."""
    return urlsplit(sb.token_url(platform)).path.removeprefix(f"/{platform}")


def token_calls(sb: Sandbox, platform: str) -> list[LoggedRequest]:
    """What `platform`'s token endpoint on the emulator was sent, oldest first."""
    path = token_path(sb, platform)
    return [r for r in sb.requests_for(platform, path) if r.path == path]


# -- refresh --------------------------------------------------------------------------


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_refresh_returns_a_fresh_access_token_that_the_api_accepts(
    sb: Sandbox, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)

    grant = oauth(sb, platform).refresh(issued.refresh_token, account_id)

    assert isinstance(grant, TokenGrant)
    assert grant.access_token and grant.access_token != issued.access_token
    assert grant.expires_at is not None and grant.expires_at > NOW
    assert sb.oauth.refreshes[(platform, account_id)] == 1
    if platform in ROTATING:
        assert grant.refresh_token and grant.refresh_token != issued.refresh_token
    elif grant.refresh_token is not None:  # echoed, never a new one
        assert grant.refresh_token == issued.refresh_token
    if platform in ("tiktok", "linkedin"):  # refresh_expires_in / refresh_token_expires_in
        assert grant.refresh_expires_at is not None and grant.refresh_expires_at > NOW
    assert grant.access_token not in repr(grant)
    assert not grant.refresh_token or grant.refresh_token not in repr(grant)
    # The new access token reads the account's data through the real platform client.
    reader = client_class(platform)(
        make_session(platform, sb.base_url(platform), policy=fast_policy()),
        account_id,
        grant.access_token,
    )
    assert reader.fetch_profile().body


@pytest.mark.parametrize("platform", ROTATING)
def test_a_rotated_refresh_token_dies_and_names_the_account_and_auth_login(
    sb: Sandbox, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    client = oauth(sb, platform)
    first = client.refresh(issued.refresh_token, account_id)
    assert first.refresh_token and first.refresh_token != issued.refresh_token

    with pytest.raises(RefreshRejected) as caught:
        client.refresh(issued.refresh_token, account_id)

    message = str(caught.value)
    assert account_id in message and platform in message
    assert "auth login" in message and caught.value.login_command in message
    assert isinstance(caught.value, AuthError) and caught.value.account_id == account_id
    assert (platform, account_id) in sb.oauth.superseded_presented
    assert_clean(message, issued.refresh_token, first.refresh_token, first.access_token)
    second = client.refresh(first.refresh_token, account_id)  # the successor still works
    assert second.refresh_token not in (None, first.refresh_token)


@pytest.mark.parametrize("platform", ("youtube", "linkedin"))
def test_a_refresh_token_that_does_not_rotate_keeps_working(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    client = oauth(sb, platform)

    grants = [client.refresh(issued.refresh_token, account_id) for _ in range(3)]

    assert len({g.access_token for g in grants}) == 3
    assert all(g.refresh_token in (None, issued.refresh_token) for g in grants)
    assert sb.oauth.refreshes[(platform, account_id)] == 3


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_a_revoked_refresh_token_is_rejected_with_the_way_out(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    sb.revoke(issued.refresh_token)

    with pytest.raises(RefreshRejected) as caught:
        oauth(sb, platform).refresh(issued.refresh_token, account_id)

    message = str(caught.value)
    assert f"auth login {platform} --account" in message and account_id in message
    assert caught.value.status is not None and 400 <= caught.value.status < 500
    assert_clean(message, issued.refresh_token, issued.access_token)


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_a_wrong_client_secret_is_an_app_problem_not_the_owners(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    wrong = "wrong-app-S3CRET-9999"

    with pytest.raises(AuthError) as caught:
        oauth(sb, platform, secret=wrong).refresh(issued.refresh_token, account_id)

    assert not isinstance(caught.value, RefreshRejected)
    message = str(caught.value)
    assert "client id/secret" in message and platform in message
    assert_clean(message, wrong, issued.refresh_token)
    # Nothing was spent: the owner's refresh token still works with the right secret.
    assert oauth(sb, platform).refresh(issued.refresh_token, account_id).access_token


@pytest.mark.parametrize("platform", ("tiktok", "linkedin"))
def test_an_expired_refresh_token_is_rejected(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id, refresh_ttl=0)

    with pytest.raises(RefreshRejected) as caught:
        oauth(sb, platform).refresh(issued.refresh_token, account_id)

    assert caught.value.login_command == login_command(platform, account_id)
    assert_clean(str(caught.value), issued.refresh_token, issued.access_token)


def _spend(sb: Sandbox, platform: str, client: OAuthClient) -> None:
    """One token-endpoint call: a refresh, or for Meta an extension."""
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    if APP_OF[platform] == "facebook":
        client.extend_meta_token(issued.access_token, account_id)
    else:
        client.refresh(issued.refresh_token or "", account_id)


@pytest.mark.parametrize("platform", [*REFRESHABLE, *META])
def test_a_failing_token_endpoint_is_transient_and_named(sb: Sandbox, platform: str) -> None:
    sb.inject(Fault("server_error", platform=platform, path_contains=token_path(sb, platform)))
    client = oauth(sb, platform)

    with pytest.raises(TransientError) as caught:
        _spend(sb, platform, client)

    message = str(caught.value)
    assert platform in message and f"127.0.0.1:{sb.port}" in message
    assert_clean(message)
    _spend(sb, platform, client)  # the fault was one answer: the next call succeeds


@pytest.mark.parametrize("platform", [*REFRESHABLE, *META])
def test_a_throttled_token_endpoint_is_rate_limited(sb: Sandbox, platform: str) -> None:
    sb.inject(Fault("rate_limit", platform=platform, path_contains=token_path(sb, platform)))

    with pytest.raises(RateLimited) as caught:
        _spend(sb, platform, oauth(sb, platform))

    assert_clean(str(caught.value))


def test_an_x_public_client_refreshes_without_a_secret(sb: Sandbox) -> None:
    account_id = account(sb, "x")
    sb.register_app("x", APPS["x"][0], "")  # a public client: no secret
    issued = sb.issue_tokens("x", account_id)

    grant = oauth(sb, "x", secret=None).refresh(issued.refresh_token, account_id)

    assert grant.refresh_token and grant.refresh_token != issued.refresh_token


def test_refresh_expiry_comes_from_the_answer_and_the_injected_clock(sb: Sandbox) -> None:
    account_id = account(sb, "tiktok")
    issued = sb.issue_tokens("tiktok", account_id)

    grant = oauth(sb, "tiktok").refresh(issued.refresh_token, account_id)

    # TikTok: access 2 h, refresh 180 days (platform-apis.md), counted from our clock.
    assert grant.expires_at is not None and grant.refresh_expires_at is not None
    assert timedelta(minutes=30) <= grant.expires_at - NOW <= timedelta(days=2)
    assert timedelta(days=30) <= grant.refresh_expires_at - NOW <= timedelta(days=400)


# -- Meta: extension and health -------------------------------------------------------


@pytest.mark.parametrize("platform", META)
def test_meta_user_token_is_extended_and_its_health_read(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id, kind="user")
    client = oauth(sb, platform)

    before = client.debug_meta_token(issued.access_token)
    grant = client.extend_meta_token(issued.access_token, account_id)
    after = client.debug_meta_token(grant.access_token)

    assert isinstance(before, TokenHealth) and before.is_valid and before.kind == "USER"
    assert before.expires_at == issued.access_expires_at  # whole seconds on both sides
    assert grant.access_token != issued.access_token and grant.refresh_token is None
    assert grant.expires_at == NOW + timedelta(days=60)  # a long-lived user token
    assert after.is_valid and after.kind == "USER" and after.expires_at == grant.expires_at
    assert after.data_access_expires_at is not None and after.data_access_expires_at > NOW
    assert isinstance(after.scopes, tuple) and after.scopes
    assert after.error is None
    assert sb.oauth.refreshes[(platform, account_id)] == 1


def test_meta_page_token_never_expires(sb: Sandbox) -> None:
    account_id = account(sb, "facebook")
    issued = sb.issue_tokens("facebook", account_id, kind="page")

    health = oauth(sb, "facebook").debug_meta_token(issued.access_token)

    assert health.is_valid and health.kind == "PAGE" and health.expires_at is None


def test_a_revoked_meta_token_is_reported_invalid_and_cannot_be_extended(sb: Sandbox) -> None:
    account_id = account(sb, "facebook")
    issued = sb.issue_tokens("facebook", account_id, kind="user")
    sb.revoke(issued.access_token)
    client = oauth(sb, "facebook")

    health = client.debug_meta_token(issued.access_token)
    with pytest.raises(RefreshRejected) as caught:
        client.extend_meta_token(issued.access_token, account_id)

    assert not health.is_valid
    assert_clean(health.error or "", issued.access_token)
    assert "auth login facebook" in str(caught.value) and account_id in str(caught.value)
    assert_clean(str(caught.value), issued.access_token)


def test_meta_wrong_app_secret_is_an_app_problem(sb: Sandbox) -> None:
    account_id = account(sb, "facebook")
    issued = sb.issue_tokens("facebook", account_id, kind="user")
    wrong = "wrong-fb-S3CRET-9999"
    client = oauth(sb, "facebook", secret=wrong)

    for call in (
        lambda: client.extend_meta_token(issued.access_token, account_id),
        lambda: client.debug_meta_token(issued.access_token),
    ):
        with pytest.raises(AuthError) as caught:
            call()
        assert not isinstance(caught.value, RefreshRejected)
        assert "client id/secret" in str(caught.value)
        assert_clean(str(caught.value), wrong, issued.access_token)


def test_debug_token_is_the_sibling_of_the_token_url() -> None:
    client = OAuthClient(
        "facebook",
        f"https://graph.facebook.com/{GRAPH_OAUTH_VERSION}/oauth/access_token",
        "1",
        "s",
    )
    assert client.debug_url == f"https://graph.facebook.com/{GRAPH_OAUTH_VERSION}/debug_token"
    odd = OAuthClient("facebook", "https://example.test/token", "1", "s")
    with pytest.raises(ValueError, match="debug_token"):
        _ = odd.debug_url


# -- the login: consent page and code exchange ----------------------------------------


def _login(
    sb: Sandbox,
    client: OAuthClient,
    account_id: str,
    *,
    state: str = "st",
    scope: str | None = None,
    challenge: str | None = None,
) -> dict[str, str]:
    """What the owner's browser does with the client's authorize URL (the platform's login
    scopes unless `scope`): open the consent page, follow it to the redirect, and return
    the redirect's query (`code`, `state`)."""
    platform = client.platform
    url = client.authorize_url(
        sb.env()[authorize_url_env_var(platform)],
        REDIRECT,
        state,
        scope or LOGIN_SCOPES[platform],
        challenge,
    )
    sb.consent(platform, account_id)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return dict(parse_qsl(urlsplit(location).query))


@pytest.mark.parametrize("platform", [*REFRESHABLE, "facebook"])
def test_login_code_is_exchanged_for_tokens(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    client = oauth(sb, platform)
    verifier, challenge = pkce_pair() if platform == "x" else (None, None)

    back = _login(sb, client, account_id, state="st4te", challenge=challenge)
    grant = client.exchange_code(back["code"], REDIRECT, account_id, code_verifier=verifier)

    assert back["state"] == "st4te"
    assert grant.access_token and grant.expires_at is not None
    if platform in REFRESHABLE:
        assert grant.refresh_token
        later = client.refresh(grant.refresh_token, account_id)
        assert later.access_token != grant.access_token
    with pytest.raises(RefreshRejected) as caught:  # a code is good once
        client.exchange_code(back["code"], REDIRECT, account_id, code_verifier=verifier)
    assert "authorization code" in str(caught.value)
    assert_clean(str(caught.value), back["code"], grant.access_token, verifier)


def test_x_code_exchange_checks_the_pkce_verifier(sb: Sandbox) -> None:
    account_id = account(sb, "x")
    client = oauth(sb, "x")
    verifier, challenge = pkce_pair()
    back = _login(
        sb, client, account_id, state="s", scope="tweet.read offline.access", challenge=challenge
    )
    other, _ = pkce_pair()

    with pytest.raises(RefreshRejected) as caught:
        client.exchange_code(back["code"], REDIRECT, account_id, code_verifier=other)
    assert_clean(str(caught.value), back["code"], other, verifier)
    with pytest.raises(ValueError, match="PKCE"):
        client.exchange_code(back["code"], REDIRECT, account_id)


def test_pkce_pair_is_s256() -> None:
    verifier, challenge = pkce_pair()
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(verifier) <= 128


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("tiktok", {"client_key": "tt-client-key", "scope": "user.info.basic,video.list"}),
        (
            "youtube",
            {"client_id": APPS["youtube"][0], "access_type": "offline", "prompt": "consent"},
        ),
        (
            "x",
            {"client_id": "x-client-id", "code_challenge": "CH", "code_challenge_method": "S256"},
        ),
        ("linkedin", {"client_id": "li-client-id"}),
        ("facebook", {"client_id": "1234567890"}),
        ("instagram", {"client_id": "1234567890"}),
    ],
)
def test_authorize_url_speaks_each_platforms_names(platform: str, expected: dict) -> None:
    client_id, secret = APPS[APP_OF[platform]]
    client = OAuthClient(platform, "https://token.example/t", client_id, secret)
    scope = "user.info.basic,video.list" if platform == "tiktok" else "a b"
    challenge = "CH" if platform == "x" else None

    url = client.authorize_url("https://auth.example/authorize", REDIRECT, "st", scope, challenge)

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert url.startswith("https://auth.example/authorize?")
    assert {k: query.get(k) for k in expected} == expected
    assert query["redirect_uri"] == REDIRECT and query["state"] == "st"
    assert query["response_type"] == "code" and query["scope"] == scope
    assert ("client_id" in query) != ("client_key" in query)
    assert secret not in url
    assert "+" not in parts.query  # spaces as %20: X and Google read both, some readers don't


# -- misuse ---------------------------------------------------------------------------


def test_calls_a_platform_does_not_have_are_refused_plainly() -> None:
    fb = OAuthClient("facebook", "https://t.example/v1/oauth/access_token", "1", "s")
    tt = OAuthClient("tiktok", "https://t.example/token", "k", "s")
    with pytest.raises(ValueError, match="extend_meta_token"):
        fb.refresh("r", "1")
    with pytest.raises(ValueError, match="facebook and instagram"):
        tt.extend_meta_token("t", "1")
    with pytest.raises(ValueError, match="facebook and instagram"):
        tt.debug_meta_token("t")
    with pytest.raises(ValueError, match="client secret"):
        OAuthClient("youtube", "https://t.example/token", "id", None)
    with pytest.raises(ValueError, match="PKCE"):
        OAuthClient("x", "https://t.example/token", "id", None).authorize_url(
            "https://a.example", REDIRECT, "s", "x"
        )


def test_login_command_keeps_dash_ids_readable_for_the_cli() -> None:
    assert login_command("x", "42") == "social-pipeline auth login x --account=42"
    assert login_command("tiktok", "-000abc").endswith("--account=-000abc")
    assert "<account id>" in login_command("x", None)


# -- the wire, as the emulator's request log saw it -----------------------------------


@pytest.mark.parametrize(
    ("platform", "form", "basic", "access_ttl", "refresh_ttl", "refresh", "scoped"),
    [
        pytest.param(
            "tiktok",
            {"client_key", "client_secret", "grant_type", "refresh_token"},
            False,
            timedelta(hours=2),
            timedelta(days=180),
            "rotated",
            True,
            id="tiktok",
        ),
        pytest.param(
            "youtube",
            {"client_id", "client_secret", "grant_type", "refresh_token"},
            False,
            timedelta(hours=1),
            None,
            "not repeated",
            True,
            id="youtube",
        ),
        pytest.param(
            "x",
            {"grant_type", "refresh_token", "client_id"},
            True,
            timedelta(hours=2),
            None,
            "rotated",
            True,
            id="x",
        ),
        pytest.param(
            "linkedin",
            {"grant_type", "refresh_token", "client_id", "client_secret"},
            False,
            timedelta(days=60),
            timedelta(days=365),
            "echoed",
            False,
            id="linkedin",
        ),
    ],
)
def test_refresh_sends_the_platforms_own_form(
    sb: Sandbox,
    platform: str,
    form: set[str],
    basic: bool,
    access_ttl: timedelta,
    refresh_ttl: timedelta | None,
    refresh: str,
    scoped: bool,
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)

    grant = oauth(sb, platform).refresh(issued.refresh_token, account_id)

    (sent,) = token_calls(sb, platform)
    assert sent.method == "POST" and sent.query == {} and sent.status == 200
    assert set(sent.body) == form  # the emulator parses the body only as a form
    assert sent.body["grant_type"] == "refresh_token"
    assert sent.body["refresh_token"] == issued.refresh_token
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    # X's confidential client must authenticate with HTTP Basic (the emulator refuses it
    # otherwise); the others name the client in the form only.
    assert sent.headers.get("authorization") == ("Basic" if basic else None)
    assert grant.expires_at == NOW + access_ttl
    assert grant.refresh_expires_at == (None if refresh_ttl is None else NOW + refresh_ttl)
    expected_refresh = {
        "rotated": grant.refresh_token not in (None, issued.refresh_token),
        "echoed": grant.refresh_token == issued.refresh_token,
        "not repeated": grant.refresh_token is None,
    }
    assert expected_refresh[refresh]
    assert grant.scopes == (LOGIN_SCOPES[platform].replace(",", " ").split() if scoped else [])


def test_x_public_client_sends_no_basic_auth(sb: Sandbox) -> None:
    account_id = account(sb, "x")
    sb.register_app("x", APPS["x"][0], "")  # a public client: no secret
    issued = sb.issue_tokens("x", account_id)

    oauth(sb, "x", secret=None).refresh(issued.refresh_token, account_id)

    (sent,) = token_calls(sb, "x")
    assert sent.status == 200
    assert "authorization" not in sent.headers and sent.body["client_id"] == "x-client-id"
    assert "client_secret" not in sent.body


def test_linkedin_refresh_expiry_and_a_grant_without_refresh_token(sb: Sandbox) -> None:
    org = account(sb, "linkedin")
    issued = sb.issue_tokens("linkedin", org, refresh_ttl=timedelta(days=1))

    grant = oauth(sb, "linkedin").refresh(issued.refresh_token, org)

    # `refresh_token_expires_in`: the first grant's expiry, which refreshing does not extend.
    assert grant.refresh_expires_at == NOW + timedelta(days=1)
    assert grant.expires_at == NOW + timedelta(days=60)
    # Google's refresh answer does not repeat the refresh token: the grant has none, but
    # keeps the expiry of an app in "Testing" status (seven days).
    channel = account(sb, "youtube")
    issued = sb.issue_tokens("youtube", channel, refresh_ttl=timedelta(days=7))

    grant = oauth(sb, "youtube").refresh(issued.refresh_token, channel)

    assert grant.refresh_token is None
    assert grant.refresh_expires_at == NOW + timedelta(days=7)
    assert grant.expires_at == NOW + timedelta(hours=1)


def test_meta_calls_are_gets_with_the_documented_query(sb: Sandbox) -> None:
    account_id = account(sb, "instagram")
    user = sb.issue_tokens("instagram", account_id)
    page = sb.issue_tokens("instagram", account_id, kind="page")
    client_id, secret = APPS["facebook"]
    client = oauth(sb, "instagram")

    grant = client.extend_meta_token(user.access_token, account_id)
    health = client.debug_meta_token(page.access_token)
    code = _login(sb, client, account_id)["code"]
    exchanged = client.exchange_code(code, REDIRECT, account_id)

    extend, exchange = token_calls(sb, "instagram")
    (debug,) = sb.requests_for("instagram", "/debug_token")
    assert all(r.status == 200 and r.body is None for r in (extend, debug, exchange))
    assert extend.method == "GET" and extend.path == f"/{GRAPH_OAUTH_VERSION}/oauth/access_token"
    assert extend.query == {
        "grant_type": "fb_exchange_token",
        "client_id": client_id,
        "client_secret": secret,
        "fb_exchange_token": user.access_token,
    }
    assert grant.expires_at == NOW + timedelta(days=60)  # a long-lived user token
    assert debug.method == "GET" and debug.path == f"/{GRAPH_OAUTH_VERSION}/debug_token"
    assert debug.query == {
        "input_token": page.access_token,
        "access_token": f"{client_id}|{secret}",
    }
    assert health == TokenHealth(
        is_valid=True,
        kind="PAGE",
        expires_at=None,  # Graph says 0: never
        data_access_expires_at=NOW + timedelta(days=90),
        scopes=tuple(LOGIN_SCOPES["instagram"].split(",")),
    )
    assert exchange.method == "GET" and exchange.query == {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uri": REDIRECT,
        "code": code,
    }
    assert exchanged.expires_at == NOW + timedelta(hours=1)  # short-lived, to be extended


@pytest.mark.parametrize(
    ("platform", "form"),
    [
        ("tiktok", {"client_key", "client_secret", "code", "grant_type", "redirect_uri"}),
        ("youtube", {"client_id", "client_secret", "code", "grant_type", "redirect_uri"}),
        ("x", {"client_id", "code", "grant_type", "redirect_uri", "code_verifier"}),
        ("linkedin", {"client_id", "client_secret", "code", "grant_type", "redirect_uri"}),
    ],
)
def test_code_exchange_sends_the_platforms_own_form(
    sb: Sandbox, platform: str, form: set[str]
) -> None:
    account_id = account(sb, platform)
    client = oauth(sb, platform)
    verifier, challenge = pkce_pair() if platform == "x" else (None, None)
    code = _login(sb, client, account_id, challenge=challenge)["code"]

    client.exchange_code(code, REDIRECT, account_id, code_verifier=verifier)

    (sent,) = token_calls(sb, platform)
    assert sent.method == "POST" and sent.query == {} and sent.status == 200
    assert set(sent.body) == form
    assert sent.body["grant_type"] == "authorization_code" and sent.body["code"] == code
    assert sent.body["redirect_uri"] == REDIRECT
    assert sent.body.get("code_verifier") == verifier
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers.get("authorization") == ("Basic" if platform == "x" else None)


WRONG_SECRET = "wrong-app-S3CRET-9999"


def _provoke(sb: Sandbox, platform: str, how: str) -> tuple[Callable[[], object], list[str]]:
    """A token-endpoint call the emulator answers as `how` says (a fault kind, or a revoked
    refresh token, a wrong client secret, a code exchange without a redirect_uri), and the
    secrets it carries."""
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    refresh_token = issued.refresh_token or ""
    client = oauth(sb, platform, secret=WRONG_SECRET if how == "wrong_secret" else "default")
    if how == "no_redirect_uri":
        code = "the-CODE-S3CRET"
        return lambda: client.exchange_code(code, "", account_id), [code]
    if how == "revoked":
        sb.revoke(refresh_token)
    elif how != "wrong_secret":
        sb.inject(Fault(how, platform=platform, path_contains=token_path(sb, platform)))
    return lambda: client.refresh(refresh_token, account_id), [refresh_token, WRONG_SECRET]


@pytest.mark.parametrize(
    ("platform", "how", "status", "expected"),
    [
        ("tiktok", "revoked", 400, RefreshRejected),  # invalid_grant
        ("x", "revoked", 400, RefreshRejected),  # invalid_request: the token was invalid
        ("tiktok", "no_redirect_uri", 400, PermanentError),  # invalid_request: redirect_uri
        ("linkedin", "wrong_secret", 401, AuthError),  # invalid_client
        ("x", "wrong_secret", 401, AuthError),  # unauthorized_client: authorization header
        ("tiktok", "wrong_secret", 400, AuthError),  # invalid_client, with a 400
        ("tiktok", "rate_limit", 429, RateLimited),  # rate_limit_exceeded
        ("x", "server_error", 503, TransientError),
        ("tiktok", "server_error", 500, TransientError),
        ("youtube", "server_error", 500, TransientError),
        ("tiktok", "malformed", 200, MalformedResponse),  # an HTML page
    ],
)
def test_answers_are_classified_by_meaning(
    sb: Sandbox, platform: str, how: str, status: int, expected: type[Exception]
) -> None:
    call, secrets = _provoke(sb, platform, how)

    with pytest.raises(expected) as caught:
        call()

    error = caught.value
    assert type(error) is expected
    if expected is AuthError:
        assert "client id/secret" in str(error)
    (sent,) = token_calls(sb, platform)
    assert sent.status == status and getattr(error, "status", None) == status
    message = str(error)
    assert platform in message and f"127.0.0.1:{sb.port}" in message
    assert_clean(message, *secrets)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("expired_token", RefreshRejected),  # 190, subcode 463: Session has expired
        ("wrong_secret", AuthError),  # 1: Error validating client secret
        ("wrong_app_id", AuthError),  # 101: Invalid application ID
        ("expired_code", RefreshRejected),  # 100, subcode 36007: code has expired
        ("rate_limit", RateLimited),  # 80001: Business Use Case throttling
        ("server_error", TransientError),  # 2, is_transient
    ],
)
def test_graph_errors_are_classified_by_meaning(
    sb: Sandbox, how: str, expected: type[Exception]
) -> None:
    account_id = account(sb, "facebook")
    issued = sb.issue_tokens(
        "facebook", account_id, access_ttl=0 if how == "expired_token" else None
    )
    client = oauth(
        sb,
        "facebook",
        secret=WRONG_SECRET if how == "wrong_secret" else "default",
        client_id="999999" if how == "wrong_app_id" else None,
    )
    secrets = [issued.access_token, WRONG_SECRET]

    def call() -> object:
        return client.extend_meta_token(issued.access_token, account_id)

    if how == "expired_code":
        code = _login(sb, client, account_id, state="s")["code"]
        secrets.append(code)
        sb.world.clock = lambda: NOW + timedelta(minutes=11)  # codes live ten minutes

        def call() -> object:
            return client.exchange_code(code, REDIRECT, account_id)

    elif how in ("rate_limit", "server_error"):
        sb.inject(Fault(how, platform="facebook", path_contains=token_path(sb, "facebook")))

    with pytest.raises(expected) as caught:
        call()

    assert type(caught.value) is expected
    assert_clean(str(caught.value), *secrets)


def test_a_refused_calls_secrets_are_redacted_from_its_error_even_if_echoed(
    sb: Sandbox,
) -> None:
    # No token endpoint of the emulator echoes what it was sent, as some real ones do: what
    # is checked is that the redactor wording the error knows the call's secrets before the
    # answer arrives, so an echo of them would be cut out.
    redactor = Redactor()
    account_id = account(sb, "tiktok")
    issued = sb.issue_tokens("tiktok", account_id)
    sb.revoke(issued.refresh_token)

    with pytest.raises(RefreshRejected) as caught:
        oauth(sb, "tiktok", redactor=redactor).refresh(issued.refresh_token, account_id)

    assert_clean(str(caught.value), issued.refresh_token)
    echoed = f"refresh_token {issued.refresh_token} unknown to {APPS['tiktok'][1]}"
    assert redactor.text(echoed) == "refresh_token *** unknown to ***"


def test_an_unreachable_token_endpoint_is_transient_and_names_the_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/{GRAPH_OAUTH_VERSION}/oauth/access_token"
    client = OAuthClient("facebook", url, "1234567890", APPS["facebook"][1], timeout=5)

    with pytest.raises(TransientError) as caught:
        client.extend_meta_token("current-S3CRET", "1784")

    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "facebook" in message
    assert_clean(message, "current-S3CRET")
    assert caught.value.__suppress_context__  # the requests error (URL, query) is not chained


def test_a_token_endpoint_that_hangs_times_out(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Raised at the transport: a real delay would leave the emulator answering a closed socket.
    account_id = account(sb, "youtube")
    issued = sb.issue_tokens("youtube", account_id)
    client = oauth(sb, "youtube")
    client.timeout = 0.01

    def slow(*args: object, **kwargs: object) -> None:
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(client.session, "request", slow)
    with pytest.raises(TransientError, match="did not answer within") as caught:
        client.refresh(issued.refresh_token, account_id)
    assert f"127.0.0.1:{sb.port}" in str(caught.value)
    assert_clean(str(caught.value), issued.refresh_token)


def test_nothing_secret_reaches_the_logs(sb: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    account_id = account(sb, "facebook")
    user = sb.issue_tokens("facebook", account_id)
    client = oauth(sb, "facebook")

    grant = client.extend_meta_token(user.access_token, account_id)
    client.debug_meta_token(grant.access_token)
    code = _login(sb, client, account_id, state="s")["code"]
    exchanged = client.exchange_code(code, REDIRECT, account_id)
    sb.revoke(user.access_token)
    with pytest.raises(RefreshRejected):  # error 190
        client.extend_meta_token(user.access_token, account_id)

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "oauth/access_token" in logged and "debug_token" in logged  # urllib3 logged them
    assert_clean(logged, user.access_token, grant.access_token, exchanged.access_token, code)


def test_the_redactor_shared_with_the_caller_learns_every_secret(sb: Sandbox) -> None:
    redactor = Redactor()
    account_id = account(sb, "tiktok")
    issued = sb.issue_tokens("tiktok", account_id)

    grant = oauth(sb, "tiktok", redactor=redactor).refresh(issued.refresh_token, account_id)

    secret = APPS["tiktok"][1]
    text = f"{secret} {issued.refresh_token} {grant.access_token} {grant.refresh_token}"
    assert redactor.text(text) == "*** *** *** ***"


def test_a_token_url_that_is_no_url_is_a_permanent_configuration_error() -> None:
    client = OAuthClient("linkedin", "localhost/oauth/v2/accessToken", "id", "li-app-S3CRET-0001")
    with pytest.raises(PermanentError, match="not a usable http"):
        client.refresh("old-REFRESH-S3CRET", "urn:li:organization:5")
