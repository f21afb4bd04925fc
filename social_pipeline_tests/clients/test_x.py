"""X API v2 client against the emulator over loopback HTTP."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from social_pipeline.clients.errors import PermanentError, RateLimited
from social_pipeline.clients.x import XClient
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline_tests import helpers

WINDOW = CollectionWindow(date(2026, 11, 19))
# Eight posts a day: 224 in a 28-day window, three pages of 100.
busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def timeline_requests(sb: Sandbox) -> list:
    return [r for r in sb.requests_for("x", "/tweets") if r.path != "/2/tweets"]


def test_timeline_pages_with_the_window_as_time_filter_and_returns_each_post_once(
    busy: Sandbox,
) -> None:
    client = helpers.make_client(busy, "x")
    pages, listed = helpers.listed_in_window(client, busy, WINDOW)  # newest first, each once

    sent = timeline_requests(busy)
    assert len(sent) == math.ceil(len(listed) / 100) == 3
    assert len(listed) == 224
    assert {(r.query["start_time"], r.query["end_time"], r.query["max_results"]) for r in sent} == {
        ("2026-10-23T00:00:00Z", "2026-11-20T00:00:00Z", "100")
    }
    assert "pagination_token" not in sent[0].query
    assert [r.query["pagination_token"] for r in sent[1:]] == [
        pages[0].body["meta"]["next_token"],
        pages[1].body["meta"]["next_token"],
    ]
    assert "next_token" not in pages[-1].body["meta"]  # X stopped at start_time; so did we


def test_day_pull_is_one_profile_and_one_timeline_call_with_metrics_inline(
    sandbox: Sandbox,
) -> None:
    client = helpers.make_client(sandbox, "x")

    pages = list(client.collect(WINDOW))

    assert [p.kind for p in pages] == ["profile", "posts"]
    assert client.http.stats.api_calls == 2
    tweet = pages[1].body["data"][0]
    post = sandbox.world.find_post("x", tweet["id"])
    assert tweet["public_metrics"]["like_count"] == sandbox.world.metrics(post)["likes"]


def test_videos_come_with_their_variants_only_when_asked_and_photos_with_a_url(
    sandbox: Sandbox,
) -> None:
    client = helpers.make_client(sandbox, "x")
    media = next(p for p in client.collect(WINDOW) if p.kind == "posts").body["includes"]["media"]
    sent = timeline_requests(sandbox)[0]
    account = sandbox.world.accounts("x")[0].account_id
    sandbox.grant("x", "media-token", account)
    params = {**sent.query, "media.fields": "type,url,preview_image_url"}
    without = requests.get(
        f"{sandbox.base_url('x')}/2/users/{account}/tweets",
        params=params,
        headers={"Authorization": "Bearer media-token"},
        timeout=10,
    ).json()["includes"]["media"]

    assert "variants" in sent.query["media.fields"].split(",")
    videos = [m for m in media if m["type"] == "video"]
    assert videos and all("url" not in m and m["preview_image_url"] for m in videos)
    for video in videos:
        kinds = sorted((v["content_type"], "bit_rate" in v) for v in video["variants"])
        assert kinds[0] == ("application/x-mpegURL", False)
        assert len({v["bit_rate"] for v in video["variants"] if "bit_rate" in v}) > 1
    assert all("url" in m and "variants" not in m for m in media if m["type"] == "photo")
    assert without and all("variants" not in m for m in without)


def test_metrics_refresh_batches_ids_at_100_per_call(busy: Sandbox) -> None:
    client = helpers.make_client(busy, "x")
    posts = helpers.world_posts(busy, "x", WINDOW.start - timedelta(days=5), WINDOW.end)
    ids = [p.post_id for p in posts[:230]]

    pages = list(client.fetch_metrics(ids))

    lookups = [r for r in busy.requests_for("x", "/2/tweets") if r.path == "/2/tweets"]
    assert [len(r.query["ids"].split(",")) for r in lookups] == [100, 100, 30]
    returned = {t["id"]: t["public_metrics"] for page in pages for t in page.body["data"]}
    assert sorted(returned) == sorted(ids)
    for post in posts[:230]:
        assert returned[post.post_id]["impression_count"] == busy.world.metrics(post)["views"]


def test_rate_limit_waits_until_x_rate_limit_reset_before_retrying(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform="x", reset_in=1.5))
    client = helpers.make_client(sandbox, "x")

    client.fetch_profile()

    refused, accepted = sandbox.requests_for("x")
    assert (refused.status, accepted.status) == (429, 200)
    reset = math.ceil(refused.received_at + 1.5)  # the x-rate-limit-reset the emulator sent
    assert accepted.received_at >= reset
    assert client.http.stats.retries >= 1
    assert client.http.stats.seconds_waited >= reset - refused.received_at - 0.1


def test_exhausted_quota_window_is_waited_out_without_a_refused_request() -> None:
    with helpers.frozen_sandbox(rate_limit=1, rate_limit_window_s=2) as sb:
        client = helpers.make_client(sb, "x")
        client.fetch_profile()  # x-rate-limit-remaining: 0
        client.fetch_profile()

        first, second = sb.requests_for("x")
    assert (first.status, second.status) == (200, 200)
    assert second.received_at >= first.received_at - first.received_at % 2 + 2
    assert client.http.stats.seconds_waited > 0


def test_rate_limit_reset_beyond_the_longest_wait_raises_with_reset_at(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("rate_limit", platform="x", reset_in=30))
    client = helpers.make_client(sandbox, "x", policy=helpers.fast_policy(max_rate_limit_wait=1.0))

    with pytest.raises(RateLimited) as caught:
        client.fetch_profile()

    assert len(sandbox.requests_for("x")) == 1
    expected = datetime.fromtimestamp(
        math.ceil(sandbox.requests_for("x")[0].received_at + 30), tz=UTC
    )
    assert caught.value.reset_at == expected


def test_server_errors_are_retried(sandbox: Sandbox) -> None:
    _, page = helpers.profile_after_two_server_errors(sandbox, "x", status=503)
    assert page.body["data"]["username"] == "sandbox_x_1"


def response(status: int, body: dict, headers: dict[str, str] | None = None) -> requests.Response:
    built = requests.Response()
    built.status_code = status
    built.headers.update(headers or {})
    built._content = json.dumps(body).encode()
    return built


def test_usage_cap_429_is_permanent_but_plain_429_is_a_rate_limit() -> None:
    capped = {
        "title": "UsageCapExceeded",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
        "period": "Monthly",
        "scope": "Product",
    }
    plain = {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    headers = {"x-rate-limit-reset": "1800000000"}

    cap_error = XClient.classify(response(429, capped, headers), capped, XClient.TIMELINE)
    limit_error = XClient.classify(response(429, plain, headers), plain, XClient.TIMELINE)

    assert isinstance(cap_error, PermanentError) and "Monthly product cap" in cap_error.message
    assert isinstance(limit_error, RateLimited)
    assert limit_error.reset_at == datetime.fromtimestamp(1_800_000_000, tz=UTC)


def test_quota_headers_become_a_rate_limit_window(sandbox: Sandbox) -> None:
    client = helpers.make_client(sandbox, "x")

    client.fetch_profile()

    window = client.http.windows[XClient.PROFILE]
    assert (window.limit, window.remaining) == (100_000, 99_999)
    assert window.reset_at is not None and window.reset_at > window.observed_at
