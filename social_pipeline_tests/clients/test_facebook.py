"""The Facebook client against the emulator over loopback HTTP."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from social_pipeline.clients.errors import RateLimited
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox import facebook as sandbox_facebook
from social_pipeline.sandbox import graph as sandbox_graph
from social_pipeline.sandbox.protocol import Emulator, Reply, Request
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

P = "facebook"
TOKEN = "test-token-s3cr3t"
DAY = date(2026, 11, 19)  # posts exist after this window too: the client must skip them

# 8 posts a day: a 28-day window spans three pages of 100.
busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def test_posts_follow_paging_next_within_since_until_and_each_post_comes_once(
    busy: Sandbox,
) -> None:
    client = helpers.make_client(busy, P)
    window = CollectionWindow(DAY)
    pages, listed = helpers.listed_in_window(client, busy, window)  # newest first, none twice

    assert len(listed) == 224
    requests = busy.requests_for(P, "/posts")
    assert len(requests) == 3
    assert requests[0].query["since"] == str(int(window.start.timestamp()))
    assert requests[0].query["until"] == str(int(window.end.timestamp()))
    assert "after" not in requests[0].query
    assert all(
        "after" in r.query and r.query["since"] == requests[0].query["since"] for r in requests[1:]
    )
    assert "next" not in pages[-1].body["paging"]  # Graph's since ended the listing


def test_followed_next_urls_land_without_the_token(busy: Sandbox) -> None:
    client = helpers.make_client(busy, P)
    pages = list(client.list_posts(CollectionWindow(DAY)))
    assert TOKEN in pages[0].body["paging"]["next"]  # Graph echoes it; the landing redacts
    for page in pages[1:]:
        assert page.path == f"/v24.0/{client.account_id}/posts"
        assert "access_token" not in page.params and TOKEN not in str(page.params)


def test_listing_carries_metrics_so_a_day_needs_no_metric_calls(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    pages = list(client.collect(CollectionWindow(date(2026, 11, 20))))
    assert [p.kind for p in pages] == ["profile", "posts"]
    assert len(sandbox.requests_for(P)) == 2


def test_metrics_refresh_asks_for_fifty_posts_per_call(busy: Sandbox) -> None:
    client = helpers.make_client(busy, P)
    ids = helpers.world_post_ids(busy, P, CollectionWindow(DAY))[:120]
    pages = list(client.fetch_metrics(ids))

    batches = [r.query["ids"].split(",") for r in busy.requests_for(P) if r.path == "/v24.0/"]
    assert [len(b) for b in batches] == [50, 50, 20]
    assert [i for b in batches for i in b] == ids
    post = busy.world.find_post("facebook", ids[0])
    assert post is not None
    fields = pages[0].body[ids[0]]
    assert fields["reactions"]["summary"]["total_count"] == busy.world.metrics(post)["likes"]
    assert fields["comments"]["summary"]["total_count"] == busy.world.metrics(post)["comments"]


def test_post_insights_refused_on_a_later_page_ask_it_again_from_its_cursor(
    busy: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = sandbox_facebook._insights_refusal

    def refused_after_the_first_page(req: Request, sb: Emulator) -> Reply | None:
        if "after" in req.query and "insights" in req.query.get("fields", ""):
            return sandbox_graph.error_reply(403, 10, "(#10) Requires read_insights")
        return refusal(req, sb)

    monkeypatch.setattr(sandbox_facebook, "_insights_refusal", refused_after_the_first_page)
    client = helpers.make_client(busy, P)
    pages, listed = helpers.listed_in_window(client, busy, CollectionWindow(DAY))

    assert len(listed) == 224  # every post once, though page two was asked twice
    assert [r.status for r in busy.requests_for(P, "/posts")] == [200, 403, 200, 200]
    assert not pages[0].notes and "insights" in pages[0].body["data"][0]
    for page in pages[1:]:
        assert {n["post_id"] for n in page.notes} == set(page.post_ids)
        assert {n["field"] for n in page.notes} == {
            "post_media_view",
            "post_total_media_view_unique",
            "post_clicks",
        }


def test_a_metrics_refresh_carries_post_insights(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    ids = helpers.world_post_ids(sandbox, P, CollectionWindow(DAY))[:3]
    (page,) = client.fetch_metrics(ids)

    post = sandbox.world.find_post(P, ids[0])
    assert post is not None
    insights = {e["name"]: e["values"][0]["value"] for e in page.body[ids[0]]["insights"]["data"]}
    world = sandbox.world.metrics(post)
    assert insights == {
        "post_media_view": world["views"],
        "post_total_media_view_unique": world["reach"],
        "post_clicks": world["clicks"],
    }


def test_a_rate_limit_answer_is_waited_out_before_the_next_request(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform=P, reset_in=1.5))
    client = helpers.make_client(sandbox, P)
    client.fetch_profile()

    refused, retried = sandbox.requests_for(P)
    assert refused.status == 400 and retried.status == 200
    assert retried.received_at >= refused.received_at + 1.5
    assert client.http.stats.seconds_waited >= 1.4
    assert client.http.stats.retries >= 1


def test_a_rate_limit_longer_than_the_allowed_wait_raises_with_its_reset(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform=P, reset_in=600))
    client = helpers.make_client(sandbox, P)
    with pytest.raises(RateLimited) as caught:
        client.fetch_profile()

    assert len(sandbox.requests_for(P)) == 1
    assert caught.value.reset_at is not None
    seconds = (caught.value.reset_at - datetime.now(UTC)).total_seconds()
    assert 590 < seconds <= 600
    assert caught.value.account_id == client.account_id


def test_usage_headers_at_full_quota_pause_the_client_before_it_is_refused() -> None:
    with helpers.frozen_sandbox(rate_limit=2, rate_limit_window_s=2) as sb:
        client = helpers.make_client(sb, P)
        for _ in range(4):
            client.fetch_profile()
        log = sb.requests_for(P)

    # A third request inside one 2-second window would be refused with error 80001.
    assert [r.status for r in log] == [200] * 4
    windows = Counter(int(r.received_at // 2) for r in log)
    assert max(windows.values()) <= 2
    assert client.http.stats.seconds_waited > 0


def test_a_server_error_is_retried(sandbox: Sandbox) -> None:
    _, page = helpers.profile_after_two_server_errors(sandbox, P)
    assert page.body["followers_count"] > 0


def test_the_graph_version_is_a_setting(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    newer = type(client)(client.http, client.account_id, TOKEN, api_version="v25.0")
    newer.fetch_profile()
    assert sandbox.requests_for(P)[-1].path == f"/v25.0/{client.account_id}"


def test_the_profile_reads_follows_and_page_likes(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, P)
    body = client.fetch_profile().body
    account = sandbox.world.account(P, client.account_id)
    assert body["followers_count"] == sandbox.world.followers(account)["followers"]
    assert {"fan_count", "name", "username"} <= body.keys()
    assert (
        sandbox.requests_for(P)[0].query["fields"] == "followers_count,fan_count,name,username,link"
    )


def test_log_lines_name_waits_without_tokens(
    sandbox: Sandbox, caplog_all: pytest.LogCaptureFixture
) -> None:
    sandbox.inject(Fault("server_error", platform=P, times=1))
    helpers.make_client(sandbox, P, token=TOKEN).fetch_profile()
    assert any(
        r.levelno == logging.INFO and "facebook" in r.getMessage() for r in caplog_all.records
    )
    assert TOKEN not in caplog_all.text
