"""Graph error classification and usage headers, shared by the Facebook and Instagram clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from social_pipeline.clients.errors import AuthError, PermanentError, RateLimited, TransientError
from social_pipeline.clients.facebook import FacebookClient
from social_pipeline.clients.instagram import InstagramClient

NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def graph_response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


def graph_error(
    code: int, subcode: int | None = None, transient: bool = False
) -> dict[str, object]:
    error: dict[str, object] = {
        "message": "x",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A1",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = transient
    return {"error": error}


def buc(minutes: float, percent: int = 100) -> dict[str, str]:
    usage = {"type": "pages", "call_count": percent, "total_cputime": 3, "total_time": 4}
    return {
        "X-Business-Use-Case-Usage": json.dumps(
            {"123": [{**usage, "estimated_time_to_regain_access": minutes}]}
        )
    }


@pytest.mark.parametrize("client", [FacebookClient, InstagramClient])
@pytest.mark.parametrize(
    ("status", "body", "endpoint", "expected"),
    [
        (400, graph_error(190, 460), "GET /v24.0/{page-id}", AuthError),
        (401, graph_error(190, 463), "GET /v24.0/{page-id}", AuthError),
        (403, graph_error(200), "GET /v24.0/{page-id}/posts", AuthError),
        (400, graph_error(10), "GET /v24.0/{page-id}/posts", AuthError),
        (400, graph_error(10), "GET /v24.0/{media-id}/insights", PermanentError),
        (400, graph_error(4), "GET /v24.0/{page-id}", RateLimited),
        (403, graph_error(17), "GET /v24.0/{page-id}", RateLimited),
        (400, graph_error(32), "GET /v24.0/{page-id}", RateLimited),
        (400, graph_error(613), "GET /v24.0/{page-id}", RateLimited),
        (400, graph_error(80001), "GET /v24.0/{page-id}", RateLimited),
        (400, graph_error(80002), "GET /v24.0/{ig-user-id}", RateLimited),
        (500, graph_error(1), "GET /v24.0/{page-id}", TransientError),
        (503, graph_error(2, transient=True), "GET /v24.0/{page-id}", TransientError),
        (400, graph_error(9999, transient=True), "GET /v24.0/{page-id}", TransientError),
        (400, graph_error(100, 33), "GET /v24.0/{page-id}", PermanentError),
        (400, graph_error(100, 2108006), "GET /v24.0/{media-id}/insights", PermanentError),
        (400, graph_error(803), "GET /v24.0/?ids", PermanentError),
    ],
)
def test_graph_errors_are_classified_by_code_not_status(
    client, status, body, endpoint, expected
) -> None:
    error = client.classify(graph_response(status), body, endpoint)
    assert type(error) is expected
    assert error.platform == client.platform


def test_a_success_body_is_not_an_error() -> None:
    assert (
        FacebookClient.classify(graph_response(200), {"data": []}, "GET /v24.0/{page-id}/posts")
        is None
    )


def test_throttling_resets_when_the_usage_header_says_access_is_regained() -> None:
    error = FacebookClient.classify(
        graph_response(400, buc(3)), graph_error(80001), "GET /v24.0/{page-id}"
    )
    assert isinstance(error, RateLimited)
    assert error.reset_at is not None
    expected = datetime.now(UTC) + timedelta(minutes=3)
    assert abs((error.reset_at - expected).total_seconds()) < 5


def test_throttling_without_an_estimate_leaves_the_wait_to_backoff() -> None:
    error = FacebookClient.classify(
        graph_response(400, buc(0)), graph_error(4), "GET /v24.0/{page-id}"
    )
    assert isinstance(error, RateLimited) and error.reset_at is None


def test_usage_headers_become_a_window_of_percent_left() -> None:
    headers = {
        **buc(0, percent=40),
        "X-App-Usage": json.dumps({"call_count": 12, "total_cputime": 75, "total_time": 9}),
    }
    window = InstagramClient.observe(
        graph_response(200, headers), "GET /v24.0/{ig-user-id}/media", NOW
    )
    assert window is not None
    assert (window.limit, window.remaining, window.reset_at) == (100, 25, None)


def test_exhausted_usage_carries_the_time_access_is_regained() -> None:
    window = FacebookClient.observe(graph_response(200, buc(2)), "GET /v24.0/{page-id}", NOW)
    assert window is not None
    assert window.remaining == 0
    assert window.reset_at == NOW + timedelta(minutes=2)


def test_no_usage_header_means_no_window() -> None:
    assert FacebookClient.observe(graph_response(200), "GET /v24.0/{page-id}", NOW) is None
