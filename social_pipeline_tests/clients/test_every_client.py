"""What every platform's client does alike, against the emulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from social_pipeline.clients import PlatformClient
from social_pipeline.clients.errors import AuthError, MalformedResponse, PermanentError
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 19))
TOKEN = "test-token-s3cr3t"
READS: dict[str, Callable[[PlatformClient], object]] = {
    "profile": lambda client: client.fetch_profile(),
    "listing": lambda client: list(client.list_posts(WINDOW)),
}


@pytest.mark.parametrize(
    ("platform", "token", "names", "status", "says"),
    [
        ("facebook", TOKEN, "facebook account {account}", 400, "revoked"),
        ("instagram", TOKEN, "instagram account {account}", 400, "revoked"),
        ("linkedin", TOKEN, "linkedin account {account}", 401, "revoked"),
        ("tiktok", TOKEN, "tiktok", 401, "access_token_invalid"),
        ("x", TOKEN, "x", 401, "Unauthorized"),
        ("youtube", TOKEN, "youtube account {account}", 400, "rejected"),  # API key: keyInvalid
        ("youtube", "ya29.oauth-s3cr3t", "youtube account {account}", 401, "rejected"),  # Bearer
    ],
    ids=["facebook", "instagram", "linkedin", "tiktok", "x", "youtube api key", "youtube oauth"],
)
def test_a_revoked_credential_fails_at_once_with_an_auth_error_that_never_shows_it(
    sandbox: Sandbox,
    caplog_all: pytest.LogCaptureFixture,
    platform: str,
    token: str,
    names: str,
    status: int,
    says: str,
) -> None:
    sandbox.revoke(token)
    client = helpers.make_client(sandbox, platform, token=token)
    with pytest.raises(AuthError) as caught:
        list(client.collect(WINDOW))

    (request,) = sandbox.requests_for(platform)  # refused once, never retried
    assert "key" not in request.query and token not in str(request.query)  # URLs reach logs
    text = str(caught.value)
    assert text.startswith(names.format(account=client.account_id) + ":")
    assert caught.value.status == status and f"(HTTP {status})" in text and says in text
    assert token not in text and token not in repr(caught.value.args)
    assert token not in caplog_all.text


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_body_that_is_not_json_fails_as_malformed_after_the_retries(
    sandbox: Sandbox, platform: str, read: str
) -> None:
    sandbox.inject(Fault("malformed", platform=platform, times=10))
    client = helpers.make_client(sandbox, platform)
    with pytest.raises(MalformedResponse):
        READS[read](client)
    assert len(sandbox.requests_for(platform)) == helpers.fast_policy().max_retries + 1 == 4


@pytest.mark.parametrize(
    ("platform", "account_id", "status", "says"),
    [
        ("linkedin", "404404", 404, "does not exist"),
        ("x", "999", 200, "Could not find user with id: [999]"),  # X's errors come in a 200
        ("youtube", "UCnope", 200, "no such channel"),  # channels.list finds no items
    ],
)
def test_an_unknown_account_is_a_permanent_error_naming_it(
    sandbox: Sandbox, platform: str, account_id: str, status: int, says: str
) -> None:
    missing = helpers.make_client(sandbox, platform, account_id=account_id)
    with pytest.raises(PermanentError) as caught:
        missing.fetch_profile()

    assert account_id in str(caught.value) and says in str(caught.value)
    assert caught.value.status == status
    assert len(sandbox.requests_for(platform)) == 1
