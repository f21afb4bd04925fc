"""The Instagram client against the emulator over loopback HTTP."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest

from social_pipeline.clients.base import RawPage
from social_pipeline.clients.errors import RateLimited
from social_pipeline.clients.graph import parse_graph_time
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox import graph as sandbox_graph
from social_pipeline.sandbox import instagram as sandbox_instagram
from social_pipeline.sandbox.protocol import Emulator, Reply, Request
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


def test_media_known_by_id_only_are_read_fifty_per_call(busy: Sandbox) -> None:
    client = helpers.make_client(busy, P)
    ids = helpers.world_post_ids(busy, P, CollectionWindow(DAY))[:120]
    pages = list(client.fetch_metrics(ids))

    requests = busy.requests_for(P)
    assert [len(r.query["ids"].split(",")) for r in requests] == [50, 50, 20]
    assert {r.query["fields"] for r in requests} == {
        "id,media_type,media_product_type,insights.metric(reach,saved,shares,views)"
    }
    values = {e["name"]: e["values"][0]["value"] for e in pages[0].body[ids[0]]["insights"]["data"]}
    assert values == _world_insights(busy, ids[0])


def test_insights_are_read_one_call_per_media_once_the_expansion_is_refused(
    busy: Sandbox,
) -> None:
    client = helpers.make_client(busy, P)
    client.expansion_refused = True
    ids = helpers.world_post_ids(busy, P, CollectionWindow(DAY))[:7]
    pages = list(client.fetch_metrics(ids))

    requests = busy.requests_for(P, "/insights")
    assert [r.path for r in requests] == [f"/v24.0/{i}/insights" for i in ids]
    assert {r.query["metric"] for r in requests} == {"reach,saved,shares,views"}
    values = {m["name"]: m["values"][0]["value"] for m in pages[0].body["data"]}
    assert values == _world_insights(busy, ids[0])


def _world_insights(sandbox: Sandbox, media_id: str) -> dict[str, int]:
    post = sandbox.world.find_post(P, media_id)
    assert post is not None
    metrics = sandbox.world.metrics(post)
    return {
        "reach": metrics["reach"],
        "saved": metrics["saves"],
        "shares": metrics["shares"],
        "views": metrics["views"],
    }


def _inline(page: RawPage) -> dict[str, dict[str, int]]:
    """Media id -> {metric: value} from the insights listed media carry."""
    return {
        m["id"]: {e["name"]: e["values"][0]["value"] for e in m["insights"]["data"]}
        for m in page.body["data"]
        if "insights" in m
    }


def test_a_day_reads_the_profile_and_media_pages_with_insights_expanded(
    sandbox: Sandbox,
) -> None:
    client = helpers.make_client(sandbox, P)
    pages = list(client.collect(CollectionWindow(date(2026, 11, 20))))

    assert [p.kind for p in pages] == ["profile", "posts"]  # was 58 calls: + 1 per media
    assert len(sandbox.requests_for(P)) <= 3
    (request,) = sandbox.requests_for(P, "/media")
    assert request.query["fields"].endswith(",insights.metric(reach,saved,shares,views)")
    inline = _inline(pages[1])
    assert pages[1].post_ids and set(pages[1].post_ids) <= set(inline)
    for media_id, values in inline.items():
        assert values == _world_insights(sandbox, media_id)


def test_a_metric_one_media_type_refuses_is_dropped_and_the_rest_kept(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    client = helpers.make_client(sandbox, P)
    client.insight_metrics = "reach,saved,ig_reels_avg_watch_time,shares,views"  # reels only
    with caplog.at_level(logging.WARNING, "social_pipeline.instagram"):
        pages = list(client.collect(CollectionWindow(date(2026, 11, 20))))

    refused, listed = sandbox.requests_for(P, "/media")
    assert (refused.status, listed.status) == (400, 200)
    assert "insights.metric(reach,saved,shares,views)" in listed.query["fields"]
    assert [p.kind for p in pages] == ["profile", "posts"]  # no per-media calls
    assert "ig_reels_avg_watch_time metric" in caplog.text
    for media_id, values in _inline(pages[1]).items():
        assert values == _world_insights(sandbox, media_id)


def test_a_refused_expansion_falls_back_to_insights_per_media(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = sandbox_instagram._media

    def no_expansion(req: Request, sb: Emulator, user_id: str) -> Reply:
        if "insights" in req.query.get("fields", ""):
            message = "(#100) Tried accessing nonexisting field (insights) on node type (IGMedia)"
            return sandbox_graph.error_reply(400, 100, message)
        return listing(req, sb, user_id)

    monkeypatch.setattr(sandbox_instagram, "_media", no_expansion)
    client = helpers.make_client(sandbox, P)
    pages = list(client.collect(CollectionWindow(date(2026, 11, 20))))

    in_window = sum(len(p.post_ids) for p in pages)
    assert in_window and [p.kind for p in pages] == ["profile", "posts"] + ["metrics"] * in_window
    assert [r.status for r in sandbox.requests_for(P, "/media")] == [400, 200]
    assert len(sandbox.requests_for(P)) == 3 + in_window
    values = {m["name"]: m["values"][0]["value"] for m in pages[2].body["data"]}
    assert values == _world_insights(sandbox, pages[1].post_ids[0])


def test_media_whose_insights_are_refused_is_recorded_and_skipped(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    good = helpers.world_post_ids(sandbox, P, CollectionWindow(date(2026, 11, 20)))[:2]
    pages = list(client.fetch_metrics([good[0], "17900000000000000", good[1]]))

    assert [p.error is None for p in pages] == [True, False, True]
    assert pages[1].status == 400 and "Graph error 100" in (pages[1].error or "")
    assert pages[2].body["data"][0]["id"].startswith(good[1])


def test_a_rate_limit_on_insights_is_waited_out_before_the_next_request(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    client.expansion_refused = True  # insights per media
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
