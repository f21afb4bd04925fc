"""The LinkedIn client against the emulator, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
import requests

from social_pipeline.clients.errors import AuthError, MalformedResponse, PermanentError, RateLimited
from social_pipeline.clients.http import encode_query
from social_pipeline.clients.linkedin import LinkedInClient, restli_list
from social_pipeline.sandbox.server import Fault, Sandbox, SandboxConfig
from social_pipeline.sandbox.world import Post
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, fast_policy, make_client

WINDOW = CollectionWindow(date(2026, 11, 20))
TOKEN = "test-token-s3cr3t"


@pytest.fixture
def busy_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(posts_per_day=8), clock=lambda: FROZEN_NOW) as sb:
        yield sb


def client(sandbox: Sandbox) -> LinkedInClient:
    made = make_client(sandbox, "linkedin", token=TOKEN)
    assert isinstance(made, LinkedInClient)
    return made


def world_posts(sandbox: Sandbox, start: datetime, end: datetime) -> list[Post]:
    account = sandbox.world.accounts("linkedin")[0].account_id
    return list(sandbox.world.posts_between("linkedin", account, start, end))


def next_utc_midnight() -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)


def test_posts_are_paged_newest_first_to_the_window_start_and_no_further(
    busy_sandbox: Sandbox,
) -> None:
    linkedin = client(busy_sandbox)
    pages = list(linkedin.list_posts(WINDOW))

    everything = world_posts(busy_sandbox, datetime(2025, 1, 1, tzinfo=UTC), FROZEN_NOW)
    crossing = next(i for i, post in enumerate(everything) if post.created_at < WINDOW.start)
    requests_made = busy_sandbox.requests_for("linkedin", "/rest/posts")
    assert len(requests_made) == len(pages) == crossing // linkedin.page_size + 1 >= 3
    assert (
        max(int(r.query["start"]) for r in requests_made)
        == (crossing // linkedin.page_size) * linkedin.page_size
    )
    returned = [pid for page in pages for pid in page.post_ids]
    expected = [p.post_id for p in world_posts(busy_sandbox, WINDOW.start, WINDOW.end)]
    assert returned == expected  # newest first, each exactly once, none from after the window


def test_share_statistics_are_batched_fifty_urns_per_call(sandbox: Sandbox) -> None:
    ids = [p.post_id for p in world_posts(sandbox, FROZEN_NOW - timedelta(days=200), FROZEN_NOW)][
        :230
    ]
    pages = list(client(sandbox).fetch_metrics(ids))

    sent = [r.query["shares"] for r in sandbox.requests_for("linkedin", "ShareStatistics")]
    assert [s.count(",") + 1 for s in sent] == [50, 50, 50, 50, 30]
    assert all(s.startswith("List(") and s.endswith(")") for s in sent)
    assert [e["share"] for p in pages for e in p.body["elements"]] == ids


def test_share_urns_travel_in_restli_list_syntax_with_encoded_urns() -> None:
    query = encode_query(
        {"q": "organizationalEntity", "shares": restli_list(["urn:li:share:1", "urn:li:share:2"])}
    )
    # What the session puts in the URL; requests keeps an encoded query as it is.
    prepared = requests.Request("GET", f"https://api.linkedin.com/rest/x?{query}").prepare()
    assert (prepared.url or "").endswith("shares=List(urn%3Ali%3Ashare%3A1,urn%3Ali%3Ashare%3A2)")


@pytest.mark.parametrize("source", ["fault", "emulator quota"])
def test_daily_quota_raises_at_once_with_reset_at_next_utc_midnight(source: str) -> None:
    config = SandboxConfig(rate_limit=1) if source == "emulator quota" else SandboxConfig()
    with Sandbox(config, clock=lambda: FROZEN_NOW) as sb:
        linkedin = client(sb)
        if source == "fault":
            sb.inject(Fault("rate_limit", platform="linkedin", reset_in=1.5))
        else:
            linkedin.fetch_profile()  # spends the quota of one call
        with pytest.raises(RateLimited) as caught:
            linkedin.fetch_profile()
        assert caught.value.reset_at == next_utc_midnight()
        assert [r.status for r in sb.requests_for("linkedin")][-1] == 429
        assert linkedin.http.stats.seconds_waited == 0  # a day is never slept through


def test_server_errors_are_retried_then_succeed(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("server_error", platform="linkedin", times=2))
    linkedin = client(sandbox)
    page = linkedin.fetch_profile()

    assert (
        page.body["firstDegreeSize"]
        == sandbox.world.followers(sandbox.world.accounts("linkedin")[0])["followers"]
    )
    assert [r.status for r in sandbox.requests_for("linkedin")] == [500, 500, 200]
    assert linkedin.http.stats.retries == 2


def test_revoked_token_is_an_auth_error_at_once_that_never_shows_the_token(
    sandbox: Sandbox, caplog_all: pytest.LogCaptureFixture
) -> None:
    sandbox.revoke(TOKEN)
    with pytest.raises(AuthError) as caught:
        list(client(sandbox).collect(WINDOW))

    assert len(sandbox.requests_for("linkedin")) == 1
    assert "linkedin" in str(caught.value) and "revoked" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value.args)
    assert TOKEN not in caplog_all.text


def test_malformed_json_raises_after_retries(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("malformed", platform="linkedin", times=10))
    with pytest.raises(MalformedResponse):
        client(sandbox).fetch_profile()
    assert len(sandbox.requests_for("linkedin")) == fast_policy().max_retries + 1


def test_a_retired_api_version_is_permanent_and_says_to_update_the_version(
    sandbox: Sandbox,
) -> None:
    made = make_client(sandbox, "linkedin", token=TOKEN)
    retired = LinkedInClient(made.http, made.account_id, TOKEN, api_version="202301")
    with pytest.raises(PermanentError) as caught:
        retired.fetch_profile()

    assert "NONEXISTENT_VERSION" in str(
        caught.value
    ) and "SOCIAL_PIPELINE_LINKEDIN_API_VERSION" in str(caught.value)
    assert [r.status for r in sandbox.requests_for("linkedin")] == [426]


def test_a_default_day_costs_one_profile_one_listing_and_two_statistics_calls(
    sandbox: Sandbox,
) -> None:
    pages = list(client(sandbox).collect(WINDOW))

    assert [p.kind for p in pages] == ["profile", "posts", "metrics", "metrics"]
    assert len(sandbox.requests_for("linkedin")) == 4


def test_an_unknown_organization_is_a_permanent_error_naming_the_account(sandbox: Sandbox) -> None:
    missing = make_client(sandbox, "linkedin", account_id="404404", token=TOKEN)
    with pytest.raises(PermanentError) as caught:
        missing.fetch_profile()
    assert "404404" in str(caught.value) and caught.value.status == 404
