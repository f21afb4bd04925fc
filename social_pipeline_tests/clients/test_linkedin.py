"""The LinkedIn client against the emulator, over real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import requests

from social_pipeline.clients.errors import PermanentError, RateLimited
from social_pipeline.clients.http import encode_query
from social_pipeline.clients.linkedin import LinkedInClient, image_urns, restli_list
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 20))

busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def client(sandbox: Sandbox) -> LinkedInClient:
    made = helpers.make_client(sandbox, "linkedin")
    assert isinstance(made, LinkedInClient)
    return made


def next_utc_midnight() -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)


def test_posts_are_paged_newest_first_to_the_window_start_and_no_further(busy: Sandbox) -> None:
    linkedin = client(busy)
    pages, _ = helpers.listed_in_window(linkedin, busy, WINDOW)  # none from after the window

    crossing = helpers.pages_to_cross(busy, "linkedin", WINDOW, linkedin.page_size)
    sent = busy.requests_for("linkedin", "/rest/posts")
    assert len(sent) == len(pages) == crossing >= 3
    assert max(int(r.query["start"]) for r in sent) == (crossing - 1) * linkedin.page_size


def test_share_statistics_are_batched_fifty_urns_per_call(sandbox: Sandbox) -> None:
    recent = helpers.world_posts(
        sandbox, "linkedin", helpers.FROZEN_NOW - timedelta(days=200), helpers.FROZEN_NOW
    )
    ids = [p.post_id for p in recent[:230]]
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


@pytest.mark.parametrize("source", ["persisting 429s", "emulator quota"])
def test_a_429_that_persists_is_the_daily_quota_with_reset_at_next_utc_midnight(
    source: str,
) -> None:
    config = {"rate_limit": 1} if source == "emulator quota" else {}
    with helpers.frozen_sandbox(**config) as sb:
        linkedin = client(sb)
        if source == "persisting 429s":
            sb.inject(Fault("rate_limit", platform="linkedin", times=10))
        else:
            linkedin.fetch_profile()  # spends the quota of one call
        with pytest.raises(RateLimited) as caught:
            linkedin.fetch_profile()
        assert caught.value.reset_at == next_utc_midnight()
        statuses = [r.status for r in sb.requests_for("linkedin")]
        assert statuses[-4:] == [429] * 4  # the short path was tried first (3 retries)
        assert linkedin.http.stats.retries == 3
        assert linkedin.http.stats.seconds_waited < 1  # short backoffs; a day is never slept


def test_a_short_protection_429_is_retried_on_the_short_path_and_the_call_succeeds() -> None:
    with helpers.frozen_sandbox() as sb:
        linkedin = client(sb)
        sb.inject(Fault("rate_limit", platform="linkedin", times=2))
        page = linkedin.fetch_profile()
        assert page.status == 200
        assert [r.status for r in sb.requests_for("linkedin")] == [429, 429, 200]
        assert linkedin.http.stats.retries == 2


def test_server_errors_are_retried_then_succeed(sandbox: Sandbox) -> None:
    _, page = helpers.profile_after_two_server_errors(sandbox, "linkedin")
    account = sandbox.world.accounts("linkedin")[0]
    assert page.body["firstDegreeSize"] == sandbox.world.followers(account)["followers"]


def test_a_retired_api_version_is_permanent_and_says_to_update_the_version(
    sandbox: Sandbox,
) -> None:
    made = helpers.make_client(sandbox, "linkedin")
    retired = LinkedInClient(made.http, made.account_id, made.token, api_version="202301")
    with pytest.raises(PermanentError) as caught:
        retired.fetch_profile()

    assert "NONEXISTENT_VERSION" in str(
        caught.value
    ) and "SOCIAL_PIPELINE_LINKEDIN_API_VERSION" in str(caught.value)
    assert [r.status for r in sandbox.requests_for("linkedin")] == [426]


def test_a_default_day_costs_one_profile_one_listing_two_statistics_and_the_image_calls(
    sandbox: Sandbox,
) -> None:
    pages = list(client(sandbox).collect(WINDOW))

    images = image_urns(pages[1].body, pages[1].post_ids)
    calls = -(-len(images) // 50)  # 50 image URNs per Images API call
    assert calls >= 1
    day = ["profile", "posts", "metrics", "metrics"]
    assert [p.kind for p in pages] == day + ["images"] * calls
    assert len(sandbox.requests_for("linkedin")) == 4 + calls
