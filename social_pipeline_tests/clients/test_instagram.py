"""The Instagram client against the emulator over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from social_pipeline.clients.errors import RateLimited
from social_pipeline.clients.graph import parse_graph_time
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

P = "instagram"
DAY = date(2026, 11, 19)  # posts exist after this window too: the client must skip them

# 8 posts a day: a 28-day window reaches into the third page of 100.
busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def test_media_paging_stops_at_the_page_that_crosses_the_window_start(busy: Sandbox) -> None:
    client = helpers.make_client(busy, P)
    window = CollectionWindow(DAY)
    pages, listed = helpers.listed_in_window(client, busy, window)  # newest first, none twice

    assert len(listed) == 224
    assert len(busy.requests_for(P, "/media")) == 3
    last = [parse_graph_time(m["timestamp"]) for m in pages[-1].body["data"]]
    assert min(last) < window.start  # this page crossed the start...
    assert "next" in pages[-1].body["paging"]  # ...and more existed, but were not asked for
    assert all(
        parse_graph_time(m["timestamp"]) >= window.start for p in pages[:-1] for m in p.body["data"]
    )


def test_media_newer_than_the_window_are_received_but_not_listed(busy: Sandbox) -> None:
    client = helpers.make_client(busy, P)
    window = CollectionWindow(DAY)
    first = next(iter(client.list_posts(window)))
    newer = [m["id"] for m in first.body["data"] if parse_graph_time(m["timestamp"]) >= window.end]
    assert newer and not set(newer) & set(first.post_ids)


def test_insights_are_read_with_one_call_per_media(busy: Sandbox) -> None:
    client = helpers.make_client(busy, P)
    ids = helpers.world_post_ids(busy, P, CollectionWindow(DAY))[:7]
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
    client = helpers.make_client(sandbox, P)
    pages = list(client.collect(CollectionWindow(date(2026, 11, 20))))
    in_window = sum(len(p.post_ids) for p in pages)
    assert [p.kind for p in pages] == ["profile", "posts"] + ["metrics"] * in_window
    assert len(sandbox.requests_for(P)) == 2 + in_window


def test_media_whose_insights_are_refused_is_recorded_and_skipped(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    good = helpers.world_post_ids(sandbox, P, CollectionWindow(date(2026, 11, 20)))[:2]
    pages = list(client.fetch_metrics([good[0], "17900000000000000", good[1]]))

    assert [p.error is None for p in pages] == [True, False, True]
    assert pages[1].status == 400 and "Graph error 100" in (pages[1].error or "")
    assert pages[2].body["data"][0]["id"].startswith(good[1])


def test_a_rate_limit_on_insights_is_waited_out_before_the_next_request(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    ids = helpers.world_post_ids(sandbox, P, CollectionWindow(date(2026, 11, 20)))[:2]
    sandbox.inject(Fault("rate_limit", platform=P, path_contains="/insights", reset_in=1.5))
    pages = list(client.fetch_metrics(ids))

    refused, retried, second = sandbox.requests_for(P, "/insights")
    assert (refused.status, retried.status, second.status) == (400, 200, 200)
    assert retried.received_at >= refused.received_at + 1.5
    assert client.http.stats.seconds_waited >= 1.4
    assert all(p.error is None for p in pages)


def test_a_rate_limit_longer_than_the_allowed_wait_raises_with_its_reset(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform=P, reset_in=3600))
    client = helpers.make_client(sandbox, P)
    with pytest.raises(RateLimited) as caught:
        list(client.collect(CollectionWindow(DAY)))

    assert len(sandbox.requests_for(P)) == 1
    assert caught.value.reset_at is not None
    assert 3590 < (caught.value.reset_at - datetime.now(UTC)).total_seconds() <= 3600


def test_a_server_error_is_retried(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("server_error", platform=P, path_contains="/media", times=2))
    client = helpers.make_client(sandbox, P)
    pages = list(client.list_posts(CollectionWindow(date(2026, 11, 20))))

    assert pages and pages[0].post_ids
    assert [r.status for r in sandbox.requests_for(P, "/media")] == [500, 500, 200]
    assert client.http.stats.retries == 2


def test_the_profile_reads_followers_follows_and_media_count(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    body = client.fetch_profile().body
    counts = sandbox.world.followers(sandbox.world.account(P, client.account_id))
    assert (body["followers_count"], body["follows_count"], body["media_count"]) == (
        counts["followers"],
        counts["following"],
        counts["posts_count"],
    )
    assert body["username"]
