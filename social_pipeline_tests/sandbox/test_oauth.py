"""The emulator's OAuth: token lifetimes, refresh and rotation, Meta extension, the code flow.

Everything goes over HTTP with `requests`, as a client would, against a running emulator
whose world clock the test moves (`clock.now`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from social_pipeline.clients import PlatformClient
from social_pipeline.clients.errors import AuthError
from social_pipeline.core.platforms import (
    APP_OF,
    GRAPH_OAUTH_VERSION,
    PLATFORMS,
    REFRESHABLE,
    ROTATING,
    authorize_url_env_var,
    base_url_env_var,
    token_url_env_var,
)
from social_pipeline.operations.registry import client_class, make_session
from social_pipeline.sandbox.oauth import IssuedTokens
from social_pipeline.sandbox.protocol import Fault
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline_tests.helpers import FROZEN_NOW, Clock, fast_policy

META = ("facebook", "instagram")
NON_ROTATING = tuple(p for p in REFRESHABLE if p not in ROTATING)
APPS = {
    "tiktok": ("tt-client-key", "tt-S3CRET"),
    "youtube": ("1234-abc.apps.googleusercontent.com", "g-S3CRET"),
    "x": ("eFhfY2xpZW50OjE6Y2k", "x-S3CRET"),
    "linkedin": ("77li-client", "li-S3CRET"),
    "facebook": ("1234567890", "fb-S3CRET"),
}
REDIRECT = "http://127.0.0.1:8765/callback"
DAY = timedelta(days=1)
# The platform's "bad refresh token" error code: X words it invalid_request.
BAD_REFRESH = {"tiktok": "invalid_grant", "youtube": "invalid_grant", "x": "invalid_request"}
BAD_REFRESH["linkedin"] = "invalid_grant"


@pytest.fixture
def clock() -> Clock:
    return Clock(FROZEN_NOW)


@pytest.fixture
def sb(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(), clock=clock) as sandbox:
        for app, (client_id, secret) in APPS.items():
            sandbox.register_app(app, client_id, secret)
        yield sandbox


def account(sb: Sandbox, platform: str, n: int = 0) -> str:
    return sb.world.accounts(platform)[n].account_id


def token_call(
    sb: Sandbox, platform: str, form: dict[str, str], *, secret: str | None = None
) -> requests.Response:
    """One token-endpoint request, authenticated the way the platform wants its client."""
    client_id, app_secret = APPS[APP_OF[platform]]
    secret = app_secret if secret is None else secret
    url = sb.token_url(platform)
    if platform in META:
        params = {"client_id": client_id, "client_secret": secret, **form}
        return requests.get(url, params=params, timeout=10)
    if platform == "tiktok":
        data = {"client_key": client_id, "client_secret": secret, **form}
        return requests.post(url, data=data, timeout=10)
    if platform == "x":  # a confidential client: HTTP Basic
        data = {"client_id": client_id, **form}
        return requests.post(url, data=data, auth=(client_id, secret), timeout=10)
    data = {"client_id": client_id, "client_secret": secret, **form}
    return requests.post(url, data=data, timeout=10)


def refresh(
    sb: Sandbox, platform: str, refresh_token: str | None, *, secret: str | None = None
) -> requests.Response:
    assert refresh_token is not None
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_call(sb, platform, form, secret=secret)


def extend(sb: Sandbox, platform: str, token: str) -> requests.Response:
    return token_call(sb, platform, {"grant_type": "fb_exchange_token", "fb_exchange_token": token})


def debug_token(sb: Sandbox, platform: str, token: str) -> requests.Response:
    client_id, secret = APPS["facebook"]
    url = sb.base_url(platform) + f"/{GRAPH_OAUTH_VERSION}/debug_token"
    query = {"input_token": token, "access_token": f"{client_id}|{secret}"}
    return requests.get(url, params=query, timeout=10)


def api_client(sb: Sandbox, platform: str, account_id: str, token: str) -> PlatformClient:
    """The product's own client on a token the emulator issued (not `grant`ed)."""
    session = make_session(platform, sb.base_url(platform), policy=fast_policy())
    return client_class(platform)(session, account_id, token)


def reads_profile(sb: Sandbox, platform: str, account_id: str, token: str) -> bool:
    return api_client(sb, platform, account_id, token).fetch_profile().status == 200


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorize(sb: Sandbox, platform: str, **extra: str) -> requests.Response:
    client_id = APPS[APP_OF[platform]][0]
    query = {
        "client_key" if platform == "tiktok" else "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st4te",
        **extra,
    }
    if platform == "youtube":
        query.update(access_type="offline", prompt="consent")
    if platform == "x":
        query.setdefault("scope", "tweet.read users.read offline.access")
    return requests.get(sb.authorize_url(platform), params=query, allow_redirects=False, timeout=10)


def redirected_to(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return dict(parse_qsl(urlsplit(location).query))


def exchange(sb: Sandbox, platform: str, code: str, **extra: str) -> requests.Response:
    form = {"code": code, "redirect_uri": REDIRECT, **extra}
    if platform not in META:
        form["grant_type"] = "authorization_code"
    return token_call(sb, platform, form)


def authorized_code(sb: Sandbox, platform: str) -> tuple[str, dict[str, str]]:
    """A code from the authorize step (with a PKCE challenge on X), and the proof its
    exchange must send: X's `code_verifier`, nothing on the other platforms."""
    verifier, challenge = pkce()
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"}
    back = redirected_to(authorize(sb, platform, **(extra if platform == "x" else {})))
    return back["code"], ({"code_verifier": verifier} if platform == "x" else {})


def login(sb: Sandbox, platform: str) -> requests.Response:
    """The whole code flow: authorize (with PKCE on X), then exchange the code."""
    code, proof = authorized_code(sb, platform)
    return exchange(sb, platform, code, **proof)


# -- issued tokens ------------------------------------------------------------------------

LIFETIMES = {  # access, refresh (None: never)
    "tiktok": (timedelta(hours=2), 180 * DAY),
    "youtube": (timedelta(hours=1), None),
    "x": (timedelta(hours=2), None),
    "linkedin": (60 * DAY, 365 * DAY),
    "facebook": (60 * DAY, None),
    "instagram": (60 * DAY, None),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_issued_tokens_have_the_platforms_real_lifetimes(sb: Sandbox, platform: str) -> None:
    issued = sb.issue_tokens(platform, account(sb, platform))

    access, refresh_life = LIFETIMES[platform]
    assert issued.access_expires_at == FROZEN_NOW + access
    if platform in META:
        assert issued.refresh_token is None and issued.refresh_expires_at is None
    else:
        assert issued.refresh_token
        expected = None if refresh_life is None else FROZEN_NOW + refresh_life
        assert issued.refresh_expires_at == expected


def test_a_meta_page_token_never_expires(sb: Sandbox) -> None:
    issued = sb.issue_tokens("facebook", account(sb, "facebook"), kind="page")
    assert issued.access_expires_at is None and issued.refresh_token is None


@pytest.mark.parametrize(
    ("platform", "prefix"),
    [("tiktok", "act."), ("youtube", "ya29."), ("facebook", "EAA"), ("linkedin", "AQ")],
)
def test_issued_tokens_are_random_and_look_like_the_platforms(
    sb: Sandbox, platform: str, prefix: str
) -> None:
    first, second = (sb.issue_tokens(platform, account(sb, platform)) for _ in range(2))
    assert first.access_token.startswith(prefix) and len(first.access_token) > 40
    assert first.access_token != second.access_token
    assert first.refresh_token != second.refresh_token or platform in META


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_issued_access_token_reads_its_accounts_data(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform, 1)
    issued = sb.issue_tokens(platform, account_id)

    assert sb.account_for_token(platform, issued.access_token) == account_id
    assert reads_profile(sb, platform, account_id, issued.access_token)


# -- expiry of access tokens --------------------------------------------------------------


def _expired_answer(sb: Sandbox, clock: Clock, platform: str) -> requests.Response:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    assert issued.access_expires_at is not None
    clock.now = issued.access_expires_at  # the very second it expires
    base, token = sb.base_url(platform), issued.access_token
    bearer = {"Authorization": f"Bearer {token}"}
    if platform in META:
        url = f"{base}/{GRAPH_OAUTH_VERSION}/{account_id}?fields=id&access_token={token}"
        return requests.get(url, timeout=10)
    if platform == "tiktok":
        return requests.get(f"{base}/v2/user/info/?fields=open_id", headers=bearer, timeout=10)
    if platform == "youtube":
        url = f"{base}/youtube/v3/channels?part=statistics&id={account_id}"
        return requests.get(url, headers=bearer, timeout=10)
    if platform == "x":
        return requests.get(f"{base}/2/users/{account_id}", headers=bearer, timeout=10)
    headers = {**bearer, "LinkedIn-Version": "202611", "X-Restli-Protocol-Version": "2.0.0"}
    url = f"{base}/rest/networkSizes/urn:li:organization:{account_id}"
    return requests.get(url, params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"}, headers=headers)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_expired_access_token_gets_the_platforms_own_expired_answer(
    sb: Sandbox, clock: Clock, platform: str
) -> None:
    answer = _expired_answer(sb, clock, platform)
    body = answer.json()

    if platform == "tiktok":
        assert answer.status_code == 401
        assert body["error"]["code"] == "access_token_invalid" and body["error"]["log_id"]
        assert body["error"]["message"] == (
            "The access token is invalid or not found in the request."
        )
    elif platform == "youtube":
        assert answer.status_code == 401 and body["error"]["status"] == "UNAUTHENTICATED"
        assert body["error"]["message"].startswith(
            "Request had invalid authentication credentials. Expected OAuth 2 access token"
        )
        assert body["error"]["errors"] == [
            {
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }
        ]
    elif platform == "x":
        assert answer.status_code == 401
        assert body == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                        "detail": "Unauthorized"}  # fmt: skip
    elif platform == "linkedin":
        assert answer.status_code == 401
        assert body == {
            "status": 401,
            "serviceErrorCode": 65601,
            "code": "EXPIRED_ACCESS_TOKEN",
            "message": "The token used in the request has expired",
        }
    else:
        error = body["error"]
        assert answer.status_code == 400 and error["type"] == "OAuthException"
        assert (error["code"], error["error_subcode"]) == (190, 463) and error["fbtrace_id"]
        assert error["message"].startswith("Error validating access token: Session has expired on ")
        # Pacific time, as Graph words it: the token ended on 2027-01-19 22:00 PST.
        assert (
            "on Tuesday, 19-Jan-27 22:00:00 PST. The current time is Tuesday, 19-Jan-27"
            in (error["message"])
        )


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_products_clients_take_the_expired_answer_for_an_auth_error(
    sb: Sandbox, clock: Clock, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id, access_ttl=60)
    client = api_client(sb, platform, account_id, issued.access_token)
    clock.now += timedelta(seconds=61)

    with pytest.raises(AuthError) as caught:
        client.fetch_profile()

    assert caught.value.status == (400 if platform in META else 401)
    assert issued.access_token not in str(caught.value)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_access_token_works_until_the_second_it_expires(
    sb: Sandbox, clock: Clock, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id, access_ttl=timedelta(minutes=5))
    clock.now += timedelta(minutes=5) - timedelta(seconds=1)
    assert reads_profile(sb, platform, account_id, issued.access_token)


def test_a_revoked_linkedin_token_still_says_revoked_not_expired(sb: Sandbox) -> None:
    account_id = account(sb, "linkedin")
    issued = sb.issue_tokens("linkedin", account_id, access_ttl=0)
    sb.revoke(issued.access_token)

    with pytest.raises(AuthError, match="revoked"):
        api_client(sb, "linkedin", account_id, issued.access_token).fetch_profile()


def test_an_injected_expired_fault_answers_like_an_expired_token(sb: Sandbox) -> None:
    sb.inject(Fault("expired", platform="linkedin"))
    client = api_client(sb, "linkedin", account(sb, "linkedin"), "sandbox-token-not-secret.x")

    with pytest.raises(AuthError, match="EXPIRED_ACCESS_TOKEN"):
        client.fetch_profile()


# -- refresh ------------------------------------------------------------------------------

REFRESH_KEYS = {
    "tiktok": {
        "access_token",
        "expires_in",
        "open_id",
        "refresh_token",
        "refresh_expires_in",
        "scope",
        "token_type",
    },
    "youtube": {"access_token", "expires_in", "scope", "token_type"},
    "x": {"token_type", "expires_in", "access_token", "scope", "refresh_token"},
    "linkedin": {"access_token", "expires_in", "refresh_token", "refresh_token_expires_in"},
}


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_refresh_answers_in_the_platforms_shape_with_a_working_token(
    sb: Sandbox, clock: Clock, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id, access_ttl=0)

    answer = refresh(sb, platform, issued.refresh_token)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == REFRESH_KEYS[platform]
    assert body["access_token"] != issued.access_token
    assert body["expires_in"] == LIFETIMES[platform][0].total_seconds()
    if platform == "tiktok":
        assert body["open_id"] == account_id and body["token_type"] == "Bearer"
    assert sb.oauth.refreshes[(platform, account_id)] == 1
    assert reads_profile(sb, platform, account_id, body["access_token"])


@pytest.mark.parametrize("platform", ROTATING)
def test_rotation_retires_the_refresh_token_sent_and_records_its_reuse(
    sb: Sandbox, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    successor = refresh(sb, platform, issued.refresh_token).json()["refresh_token"]
    assert successor != issued.refresh_token

    again = refresh(sb, platform, issued.refresh_token)

    assert again.status_code == 400 and again.json()["error"] == BAD_REFRESH[platform]
    assert sb.oauth.superseded_presented == [(platform, account_id)]
    assert sb.oauth.refreshes[(platform, account_id)] == 1
    assert refresh(sb, platform, successor).status_code == 200  # the lineage lives on


@pytest.mark.parametrize("platform", NON_ROTATING)
def test_a_refresh_token_that_does_not_rotate_keeps_working(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)

    answers = [refresh(sb, platform, issued.refresh_token).json() for _ in range(3)]

    assert len({a["access_token"] for a in answers}) == 3
    assert all(
        a.get("refresh_token", issued.refresh_token) == issued.refresh_token for a in answers
    )
    assert sb.oauth.refreshes[(platform, account_id)] == 3
    assert sb.oauth.superseded_presented == []


def test_linkedin_refresh_expiry_counts_down_from_the_first_grant(
    sb: Sandbox, clock: Clock
) -> None:
    issued = sb.issue_tokens("linkedin", account(sb, "linkedin"))
    clock.now += 100 * DAY

    body = refresh(sb, "linkedin", issued.refresh_token).json()

    assert body["refresh_token"] == issued.refresh_token
    assert body["refresh_token_expires_in"] == (265 * DAY).total_seconds()
    assert body["expires_in"] == (60 * DAY).total_seconds()


def test_a_linkedin_refresh_token_dies_a_year_after_the_first_grant_however_often_used(
    sb: Sandbox, clock: Clock
) -> None:
    issued = sb.issue_tokens("linkedin", account(sb, "linkedin"))
    for _ in range(6):
        clock.now += 59 * DAY
        assert refresh(sb, "linkedin", issued.refresh_token).status_code == 200
    clock.now = FROZEN_NOW + 365 * DAY

    answer = refresh(sb, "linkedin", issued.refresh_token)

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_a_revoked_refresh_token_is_refused(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    sb.revoke(issued.refresh_token)

    answer = refresh(sb, platform, issued.refresh_token)

    assert answer.status_code == 400 and answer.json()["error"] == BAD_REFRESH[platform]
    assert answer.json()["error_description"]
    assert sb.oauth.refreshes[(platform, account_id)] == 0


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_an_expired_refresh_token_is_refused(sb: Sandbox, clock: Clock, platform: str) -> None:
    issued = sb.issue_tokens(platform, account(sb, platform), refresh_ttl=7 * DAY)
    clock.now += 7 * DAY

    answer = refresh(sb, platform, issued.refresh_token)

    assert answer.status_code == 400 and answer.json()["error"] == BAD_REFRESH[platform]


def test_google_says_its_refresh_token_expired_or_was_revoked(sb: Sandbox) -> None:
    issued = sb.issue_tokens("youtube", account(sb, "youtube"))
    sb.revoke(issued.refresh_token)
    assert refresh(sb, "youtube", issued.refresh_token).json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_x_says_the_token_value_was_invalid(sb: Sandbox) -> None:
    assert refresh(sb, "x", "not-a-token").json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }


def test_tiktok_errors_carry_a_log_id(sb: Sandbox) -> None:
    body = refresh(sb, "tiktok", "rft.unknown").json()
    assert body["error"] == "invalid_grant" and body["error_description"] and body["log_id"]


def test_concurrent_refreshes_of_one_rotating_token_leave_one_winner(sb: Sandbox) -> None:
    account_id = account(sb, "tiktok")
    issued = sb.issue_tokens("tiktok", account_id)
    statuses: list[int] = []
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        statuses.append(refresh(sb, "tiktok", issued.refresh_token).status_code)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [400] * 7
    assert sb.oauth.refreshes[("tiktok", account_id)] == 1
    assert sb.oauth.superseded_presented == [("tiktok", account_id)] * 7


def test_reusing_a_rotated_token_can_revoke_the_whole_grant(sb: Sandbox) -> None:
    sb.oauth.reuse_revokes_lineage = True
    account_id = account(sb, "x")
    issued = sb.issue_tokens("x", account_id)
    body = refresh(sb, "x", issued.refresh_token).json()

    assert refresh(sb, "x", issued.refresh_token).status_code == 400

    assert refresh(sb, "x", body["refresh_token"]).status_code == 400
    with pytest.raises(AuthError):
        api_client(sb, "x", account_id, body["access_token"]).fetch_profile()


@pytest.mark.parametrize("platform", REFRESHABLE)
def test_a_refresh_token_works_only_for_its_own_platform(sb: Sandbox, platform: str) -> None:
    other = "linkedin" if platform == "tiktok" else "tiktok"
    issued = sb.issue_tokens(other, account(sb, other))
    assert refresh(sb, platform, issued.refresh_token).status_code == 400


# -- client credentials -------------------------------------------------------------------

WRONG_CLIENT = {  # status, error or Graph code, for a wrong client secret
    "tiktok": (400, "invalid_client"),
    "youtube": (401, "invalid_client"),
    "x": (401, "unauthorized_client"),
    "linkedin": (401, "invalid_client"),
    "facebook": (400, 1),
    "instagram": (400, 1),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_wrong_client_secret_is_refused_as_the_platforms_invalid_client(
    sb: Sandbox, platform: str
) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)

    if platform in META:
        form = {"grant_type": "fb_exchange_token", "fb_exchange_token": issued.access_token}
        answer = token_call(sb, platform, form, secret="wrong-S3CRET")
        error: Any = answer.json()["error"]["code"]
        assert answer.json()["error"]["message"] == "Error validating client secret."
    else:
        answer = refresh(sb, platform, issued.refresh_token, secret="wrong-S3CRET")
        error = answer.json()["error"]

    assert (answer.status_code, error) == WRONG_CLIENT[platform]
    assert sb.oauth.refreshes[(platform, account_id)] == 0
    if platform not in META:  # nothing was spent: the right secret still refreshes
        assert refresh(sb, platform, issued.refresh_token).status_code == 200


def test_an_unknown_graph_app_is_error_101(sb: Sandbox) -> None:
    url = sb.token_url("facebook")
    answer = requests.get(url, params={"client_id": "999", "client_secret": "s"}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 101


def test_an_x_public_client_sends_its_id_in_the_form_without_a_secret(sb: Sandbox) -> None:
    sb.register_app("x", "x-public-client", None)
    issued = sb.issue_tokens("x", account(sb, "x"))
    form = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}

    answer = requests.post(
        sb.token_url("x"), data={**form, "client_id": "x-public-client"}, timeout=10
    )

    assert answer.status_code == 200 and answer.json()["refresh_token"] != issued.refresh_token


def test_an_x_confidential_client_must_use_http_basic(sb: Sandbox) -> None:
    issued = sb.issue_tokens("x", account(sb, "x"))
    client_id, secret = APPS["x"]
    form = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}

    answer = requests.post(
        sb.token_url("x"), data={**form, "client_id": client_id, "client_secret": secret}
    )

    assert answer.status_code == 401 and answer.json() == {
        "error": "unauthorized_client",
        "error_description": "Missing valid authorization header",
    }


def test_google_takes_client_credentials_as_http_basic_too(sb: Sandbox) -> None:
    issued = sb.issue_tokens("youtube", account(sb, "youtube"))
    form = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    answer = requests.post(sb.token_url("youtube"), data=form, auth=APPS["youtube"], timeout=10)
    assert answer.status_code == 200


# -- Meta: fb_exchange_token and debug_token ----------------------------------------------


@pytest.mark.parametrize("platform", META)
def test_fb_exchange_token_gives_a_new_60_day_token_and_the_old_one_lives_on(
    sb: Sandbox, clock: Clock, platform: str
) -> None:
    account_id = account(sb, platform)
    old = sb.issue_tokens(platform, account_id, access_ttl=5 * DAY)
    clock.now += DAY

    answer = extend(sb, platform, old.access_token)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == (60 * DAY).total_seconds()
    assert body["access_token"] != old.access_token
    assert sb.oauth.refreshes[(platform, account_id)] == 1
    assert reads_profile(sb, platform, account_id, body["access_token"])
    assert reads_profile(sb, platform, account_id, old.access_token)
    clock.now += 4 * DAY  # the old token's own expiry
    with pytest.raises(AuthError):
        api_client(sb, platform, account_id, old.access_token).fetch_profile()
    assert reads_profile(sb, platform, account_id, body["access_token"])


# A dead Meta token, and the error subcode that says how it died.
DEAD_META_TOKENS = pytest.mark.parametrize(
    ("gone", "subcode"), [("expired", 463), ("revoked", 460)]
)


def dead_facebook_token(sb: Sandbox, clock: Clock, gone: str) -> IssuedTokens:
    """A Facebook user token killed the way `gone` says: revoked, or left to expire."""
    issued = sb.issue_tokens("facebook", account(sb, "facebook"), access_ttl=60)
    if gone == "revoked":
        sb.revoke(issued.access_token)
    else:
        clock.now += timedelta(seconds=60)
    return issued


@DEAD_META_TOKENS
def test_fb_exchange_token_refuses_a_dead_token_with_error_190(
    sb: Sandbox, clock: Clock, gone: str, subcode: int
) -> None:
    old = dead_facebook_token(sb, clock, gone)

    error = extend(sb, "facebook", old.access_token).json()["error"]

    assert (error["code"], error["error_subcode"]) == (190, subcode)


def test_fb_exchange_token_does_not_extend_a_page_token(sb: Sandbox) -> None:
    page = sb.issue_tokens("facebook", account(sb, "facebook"), kind="page")
    answer = extend(sb, "facebook", page.access_token)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100


@pytest.mark.parametrize("platform", META)
def test_debug_token_reads_a_user_tokens_health(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform)
    issued = sb.issue_tokens(platform, account_id)
    assert issued.access_expires_at is not None

    data = debug_token(sb, platform, issued.access_token).json()["data"]

    assert data["app_id"] == APPS["facebook"][0] and data["type"] == "USER"
    assert data["is_valid"] is True and "error" not in data
    assert data["expires_at"] == int(issued.access_expires_at.timestamp())
    assert data["data_access_expires_at"] == int((FROZEN_NOW + 90 * DAY).timestamp())
    assert data["user_id"] == account_id and data["scopes"] and isinstance(data["scopes"], list)


def test_debug_token_says_a_page_token_never_expires(sb: Sandbox) -> None:
    account_id = account(sb, "instagram")
    issued = sb.issue_tokens("instagram", account_id, kind="page")

    data = debug_token(sb, "instagram", issued.access_token).json()["data"]

    assert (data["type"], data["expires_at"], data["is_valid"]) == ("PAGE", 0, True)
    assert data["profile_id"] == account_id


@DEAD_META_TOKENS
def test_debug_token_reports_a_dead_token_invalid_with_its_error(
    sb: Sandbox, clock: Clock, gone: str, subcode: int
) -> None:
    issued = dead_facebook_token(sb, clock, gone)

    answer = debug_token(sb, "facebook", issued.access_token)

    data = answer.json()["data"]
    assert answer.status_code == 200 and data["is_valid"] is False
    assert (data["error"]["code"], data["error"]["subcode"]) == (190, subcode)


def test_debug_token_treats_granted_tokens_as_page_tokens_that_never_expire(
    sb: Sandbox,
) -> None:
    account_id = account(sb, "facebook")
    sb.grant("facebook", "granted-page-token", account_id)

    data = debug_token(sb, "facebook", "granted-page-token").json()["data"]

    assert (data["type"], data["expires_at"], data["is_valid"]) == ("PAGE", 0, True)


def test_debug_token_needs_the_app_token(sb: Sandbox) -> None:
    issued = sb.issue_tokens("facebook", account(sb, "facebook"))
    url = sb.base_url("facebook") + f"/{GRAPH_OAUTH_VERSION}/debug_token"
    query = {"input_token": issued.access_token, "access_token": f"{APPS['facebook'][0]}|wrong"}

    answer = requests.get(url, params=query, timeout=10)

    assert answer.status_code == 400 and answer.json()["error"]["code"] == 190
    assert "data" not in answer.json()


# -- the authorization-code flow ----------------------------------------------------------

CODE_ANSWER_KEYS = {
    "tiktok": REFRESH_KEYS["tiktok"],
    "youtube": REFRESH_KEYS["youtube"] | {"refresh_token"},
    "x": REFRESH_KEYS["x"],
    "linkedin": REFRESH_KEYS["linkedin"] | {"scope"},
    "facebook": {"access_token", "token_type", "expires_in"},
    "instagram": {"access_token", "token_type", "expires_in"},
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_code_flow_gives_the_consenting_account_its_tokens(sb: Sandbox, platform: str) -> None:
    account_id = account(sb, platform, 1)
    sb.consent(platform, account_id)

    answer = login(sb, platform)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == CODE_ANSWER_KEYS[platform]
    assert sb.account_for_token(platform, body["access_token"]) == account_id
    assert reads_profile(sb, platform, account_id, body["access_token"])
    if platform in META:  # a short-lived user token, to extend with fb_exchange_token
        assert body["expires_in"] == 3600
    else:
        assert refresh(sb, platform, body["refresh_token"]).status_code == 200


@pytest.mark.parametrize("platform", PLATFORMS)
def test_authorize_redirects_with_the_code_and_the_state(sb: Sandbox, platform: str) -> None:
    extra = (
        {"code_challenge": pkce()[1], "code_challenge_method": "S256"} if platform == "x" else {}
    )
    back = redirected_to(authorize(sb, platform, **extra))
    assert back["state"] == "st4te" and len(back["code"]) >= 20


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_consenting_account_defaults_to_the_worlds_first(sb: Sandbox, platform: str) -> None:
    body = login(sb, platform).json()
    assert sb.account_for_token(platform, body["access_token"]) == account(sb, platform)


@pytest.mark.parametrize("platform", [*REFRESHABLE, "facebook"])
def test_an_authorization_code_is_good_once(sb: Sandbox, platform: str) -> None:
    code, proof = authorized_code(sb, platform)
    assert exchange(sb, platform, code, **proof).status_code == 200

    again = exchange(sb, platform, code, **proof)

    assert again.status_code == 400
    if platform == "facebook":
        assert again.json()["error"]["error_subcode"] == 36009


@pytest.mark.parametrize("platform", [*REFRESHABLE, "facebook"])
def test_an_authorization_code_expires_after_ten_minutes(
    sb: Sandbox, clock: Clock, platform: str
) -> None:
    code, proof = authorized_code(sb, platform)
    clock.now += timedelta(minutes=10)

    answer = exchange(sb, platform, code, **proof)

    assert answer.status_code == 400
    if platform == "facebook":
        assert answer.json()["error"]["error_subcode"] == 36007


@pytest.mark.parametrize("platform", [*REFRESHABLE, "facebook"])
def test_the_code_exchange_needs_the_same_redirect_uri(sb: Sandbox, platform: str) -> None:
    code, proof = authorized_code(sb, platform)
    form = {"code": code, "redirect_uri": REDIRECT + "/other", **proof}
    if platform != "facebook":
        form["grant_type"] = "authorization_code"

    assert token_call(sb, platform, form).status_code == 400


def test_x_checks_the_pkce_verifier_of_the_code(sb: Sandbox) -> None:
    verifier, challenge = pkce()
    code = redirected_to(
        authorize(sb, "x", code_challenge=challenge, code_challenge_method="S256")
    )["code"]

    wrong = exchange(sb, "x", code, code_verifier=pkce()[0])
    missing = exchange(sb, "x", code)
    right = exchange(sb, "x", code, code_verifier=verifier)

    assert (wrong.status_code, missing.status_code, right.status_code) == (400, 400, 200)
    assert wrong.json()["error"] == "invalid_request"


def test_x_authorize_without_a_code_challenge_is_refused(sb: Sandbox) -> None:
    back = redirected_to(authorize(sb, "x"))
    assert back == {"error": "invalid_request", "state": "st4te"}


def test_x_without_offline_access_gives_no_refresh_token(sb: Sandbox) -> None:
    verifier, challenge = pkce()
    code = redirected_to(
        authorize(
            sb,
            "x",
            scope="tweet.read users.read",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )["code"]
    body = exchange(sb, "x", code, code_verifier=verifier).json()
    assert "refresh_token" not in body and body["access_token"]


def test_google_without_offline_access_gives_no_refresh_token(sb: Sandbox) -> None:
    query = {
        "client_id": APPS["youtube"][0],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "https://www.googleapis.com/auth/youtube.readonly",
    }
    answer = requests.get(sb.authorize_url("youtube"), params=query, allow_redirects=False)
    body = exchange(sb, "youtube", redirected_to(answer)["code"]).json()
    assert "refresh_token" not in body and body["access_token"]


@pytest.mark.parametrize(
    ("platform", "error"),
    [
        ("tiktok", "access_denied"),
        ("youtube", "access_denied"),
        ("x", "access_denied"),
        ("linkedin", "user_cancelled_authorize"),
        ("facebook", "access_denied"),
    ],
)
def test_a_user_who_clicks_deny_sends_the_platforms_error_home(
    sb: Sandbox, platform: str, error: str
) -> None:
    sb.consent(platform, None)
    extra = {"code_challenge": pkce()[1]} if platform == "x" else {}

    back = redirected_to(authorize(sb, platform, **extra))

    assert back["error"] == error and back["state"] == "st4te" and "code" not in back


def test_authorize_refuses_an_unknown_client_without_redirecting(sb: Sandbox) -> None:
    query = {"client_key": "nobody", "redirect_uri": REDIRECT, "response_type": "code"}
    answer = requests.get(sb.authorize_url("tiktok"), params=query, allow_redirects=False)
    assert answer.status_code == 400 and "Location" not in answer.headers


# -- how OAuth sits in the emulator -------------------------------------------------------


def test_token_endpoints_are_not_rate_limited_nor_token_checked() -> None:
    with Sandbox(SandboxConfig(rate_limit=1), clock=Clock(FROZEN_NOW)) as sb:
        sb.register_app("youtube", *APPS["youtube"])
        account_id = account(sb, "youtube")
        issued = sb.issue_tokens("youtube", account_id)

        answers = [refresh(sb, "youtube", issued.refresh_token) for _ in range(3)]

        assert [a.status_code for a in answers] == [200, 200, 200]
        # The one API call the window allows is still there.
        assert reads_profile(sb, "youtube", account_id, answers[-1].json()["access_token"])
        logged = sb.requests_for("youtube", "/token")
        assert len(logged) == 3 and logged[0].body["grant_type"] == "refresh_token"


def test_oauth_endpoints_ignore_catch_all_faults_but_take_targeted_ones(sb: Sandbox) -> None:
    issued = sb.issue_tokens("tiktok", account(sb, "tiktok"))
    sb.inject(Fault("server_error", times=5))
    sb.inject(Fault("server_error", platform="tiktok", path_contains="/oauth/token/"))

    first = refresh(sb, "tiktok", issued.refresh_token)
    second = refresh(sb, "tiktok", issued.refresh_token)

    assert (first.status_code, second.status_code) == (500, 200)


def test_json_bodies_still_reach_the_apis(sb: Sandbox) -> None:
    account_id = account(sb, "tiktok")
    issued = sb.issue_tokens("tiktok", account_id)
    answer = requests.post(
        sb.base_url("tiktok") + "/v2/video/list/?fields=id",
        json={"max_count": 3},
        headers={"Authorization": f"Bearer {issued.access_token}"},
        timeout=10,
    )
    assert answer.status_code == 200 and len(answer.json()["data"]["videos"]) == 3


def test_env_points_token_and_authorize_urls_at_the_emulator(sb: Sandbox) -> None:
    env = sb.env()

    assert list(env)[: len(PLATFORMS)] == [base_url_env_var(p) for p in PLATFORMS]
    for platform in PLATFORMS:
        base = sb.base_url(platform)
        assert env[base_url_env_var(platform)] == base
        assert env[token_url_env_var(platform)] == sb.token_url(platform)
        assert env[authorize_url_env_var(platform)] == sb.authorize_url(platform)
        assert sb.token_url(platform).startswith(base + "/")
    assert env[token_url_env_var("facebook")].endswith(f"/{GRAPH_OAUTH_VERSION}/oauth/access_token")
    assert env[authorize_url_env_var("instagram")].endswith(f"/{GRAPH_OAUTH_VERSION}/dialog/oauth")
    assert env[token_url_env_var("tiktok")].endswith("/tiktok/v2/oauth/token/")


def test_register_app_knows_the_five_apps() -> None:
    with (
        Sandbox(SandboxConfig(), clock=Clock(FROZEN_NOW)) as sb,
        pytest.raises(ValueError, match="facebook app"),
    ):
        sb.register_app("instagram", "1", "s")


def test_issue_tokens_refuses_what_a_platform_does_not_have(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="kind"):
        sb.issue_tokens("x", account(sb, "x"), kind="page")
    with pytest.raises(ValueError, match="refresh"):
        sb.issue_tokens("facebook", account(sb, "facebook"), refresh_ttl=60)
    with pytest.raises(ValueError, match="no tiktok account"):
        sb.issue_tokens("tiktok", "nobody")
