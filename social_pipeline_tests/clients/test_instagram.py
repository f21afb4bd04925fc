"""The Instagram client against the emulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from social_pipeline.clients.errors import AuthError, MalformedResponse, RateLimited
from social_pipeline.clients.graph import parse_graph_time
from social_pipeline.sandbox.server import Fault, Sandbox, SandboxConfig
from social_pipeline.window import CollectionWindow
from social_pipeline_tests.conftest import FROZEN_NOW, fast_policy, make_client

P = "instagram"
TOKEN = "test-token-s3cr3t"
DAY = date(2026, 11, 19)  # posts exist after this window too: the client must skip them


@pytest.fixture
def busy() -> Iterator[Sandbox]:
    """8 posts a day: a 28-day window reaches into the third page of 100."""
    with Sandbox(SandboxConfig(posts_per_day=8), clock=lambda: FROZEN_NOW) as sb:
        yield sb


def world_ids(sb: Sandbox, account_id: str, window: CollectionWindow) -> list[str]:
    return [p.post_id for p in sb.world.posts_between(P, account_id, window.start, window.end)]


def test_media_paging_stops_at_the_page_that_crosses_the_window_start(busy: Sandbox) -> None:
    client = make_client(busy, P)
    window = CollectionWindow(DAY)
    pages = list(client.list_posts(window))
    listed = [pid for page in pages for pid in page.post_ids]

    assert listed == world_ids(busy, client.account_id, window)  # newest first, none twice
    assert len(listed) == 224
    assert len(busy.requests_for(P, "/media")) == 3
    last = [parse_graph_time(m["timestamp"]) for m in pages[-1].body["data"]]
    assert min(last) < window.start  # this page crossed the start...
    assert "next" in pages[-1].body["paging"]  # ...and more existed, but were not asked for
    assert all(
        parse_graph_time(m["timestamp"]) >= window.start for p in pages[:-1] for m in p.body["data"]
    )


def test_media_newer_than_the_window_are_received_but_not_listed(busy: Sandbox) -> None:
    client = make_client(busy, P)
    window = CollectionWindow(DAY)
    first = next(iter(client.list_posts(window)))
    newer = [m["id"] for m in first.body["data"] if parse_graph_time(m["timestamp"]) >= window.end]
    assert newer and not set(newer) & set(first.post_ids)


def test_insights_are_read_with_one_call_per_media(busy: Sandbox) -> None:
    client = make_client(busy, P)
    ids = world_ids(busy, client.account_id, CollectionWindow(DAY))[:7]
    pages = list(client.fetch_metrics(ids))

    requests = busy.requests_for(P, "/insights")
    assert [r.path for r in requests] == [f"/v24.0/{i}/insights" for i in ids]
    assert {r.query["metric"] for r in requests} == {"reach,saved,shares,views"}
    post = busy.world.find_post(P, ids[0])
    assert post is not None
    values = {m["name"]: m["values"][0]["value"] for m in pages[0].body["data"]}
    metrics = busy.world.metrics(post)
    assert values == {
        "reach": metrics["reach"],
        "saved": metrics["saves"],
        "shares": metrics["shares"],
        "views": metrics["views"],
    }


def test_a_day_reads_profile_media_pages_and_each_media_insights(sandbox: Sandbox) -> None:
    client = make_client(sandbox, P)
    pages = list(client.collect(CollectionWindow(date(2026, 11, 20))))
    in_window = sum(len(p.post_ids) for p in pages)
    assert [p.kind for p in pages] == ["profile", "posts"] + ["metrics"] * in_window
    assert len(sandbox.requests_for(P)) == 2 + in_window


def test_media_whose_insights_are_refused_is_recorded_and_skipped(sandbox: Sandbox) -> None:
    client = make_client(sandbox, P)
    good = world_ids(sandbox, client.account_id, CollectionWindow(date(2026, 11, 20)))[:2]
    pages = list(client.fetch_metrics([good[0], "17900000000000000", good[1]]))

    assert [p.error is None for p in pages] == [True, False, True]
    assert pages[1].status == 400 and "Graph error 100" in (pages[1].error or "")
    assert pages[2].body["data"][0]["id"].startswith(good[1])


def test_a_rate_limit_on_insights_is_waited_out_before_the_next_request(sandbox: Sandbox) -> None:
    client = make_client(sandbox, P)
    ids = world_ids(sandbox, client.account_id, CollectionWindow(date(2026, 11, 20)))[:2]
    sandbox.inject(Fault("rate_limit", platform=P, path_contains="/insights", reset_in=1.5))
    pages = list(client.fetch_metrics(ids))

    refused, retried, second = sandbox.requests_for(P, "/insights")
    assert (refused.status, retried.status, second.status) == (400, 200, 200)
    assert retried.received_at >= refused.received_at + 1.5
    assert client.http.stats.seconds_waited >= 1.4
    assert all(p.error is None for p in pages)


def test_a_rate_limit_longer_than_the_allowed_wait_raises_with_its_reset(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform=P, reset_in=3600))
    client = make_client(sandbox, P)
    with pytest.raises(RateLimited) as caught:
        list(client.collect(CollectionWindow(DAY)))

    assert len(sandbox.requests_for(P)) == 1
    assert caught.value.reset_at is not None
    assert 3590 < (caught.value.reset_at - datetime.now(UTC)).total_seconds() <= 3600


def test_a_server_error_is_retried(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("server_error", platform=P, path_contains="/media", times=2))
    client = make_client(sandbox, P)
    pages = list(client.list_posts(CollectionWindow(date(2026, 11, 20))))

    assert pages and pages[0].post_ids
    assert [r.status for r in sandbox.requests_for(P, "/media")] == [500, 500, 200]
    assert client.http.stats.retries == 2


def test_a_revoked_token_fails_at_once_and_is_never_shown(sandbox: Sandbox, caplog_all) -> None:
    sandbox.revoke(TOKEN)
    client = make_client(sandbox, P, token=TOKEN)
    with pytest.raises(AuthError) as caught:
        list(client.collect(CollectionWindow(DAY)))

    assert len(sandbox.requests_for(P)) == 1
    text = str(caught.value)
    assert "instagram" in text and client.account_id in text and "revoked" in text
    assert (
        TOKEN not in text and TOKEN not in repr(caught.value.args) and TOKEN not in caplog_all.text
    )


def test_a_body_that_is_not_json_fails_after_the_retries(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("malformed", platform=P, times=10))
    client = make_client(sandbox, P, policy=fast_policy(max_retries=3))
    with pytest.raises(MalformedResponse):
        list(client.list_posts(CollectionWindow(DAY)))
    assert len(sandbox.requests_for(P)) == 4


def test_the_profile_reads_followers_follows_and_media_count(sandbox: Sandbox) -> None:
    client = make_client(sandbox, P)
    body = client.fetch_profile().body
    counts = sandbox.world.followers(sandbox.world.account(P, client.account_id))
    assert (body["followers_count"], body["follows_count"], body["media_count"]) == (
        counts["followers"],
        counts["following"],
        counts["posts_count"],
    )
    assert body["username"]
