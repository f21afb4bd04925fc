"""X timelines include retweets unless `exclude=retweets`; a retweet is never the account's post.

The emulator serves retweets in X's wire shape, the client excludes them by default, and
with SOCIAL_PIPELINE_X_INCLUDE_RETWEETS=true they are fetched but set aside (quarantined
as someone else's post), never stored with the original's counts.
"""

from __future__ import annotations

from datetime import date

import pytest
import requests

from social_pipeline.clients.x import XClient
from social_pipeline.core.settings import SettingsError, load_settings
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.x import RETWEET, normalize
from social_pipeline.operations.registry import make_session
from social_pipeline.sandbox.server import Sandbox
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment

WINDOW = CollectionWindow(date(2026, 11, 19))
DAY = date(2026, 11, 19)
ENV = "SOCIAL_PIPELINE_X_INCLUDE_RETWEETS"
FIELDS = "created_at,public_metrics,referenced_tweets"
busy = pytest.fixture(helpers.busy_sandbox, name="busy")


def timeline(sb: Sandbox, **params: str) -> requests.Response:
    account = sb.world.accounts("x")[0]
    sb.grant("x", "rt-token", account.account_id)
    return requests.get(
        f"{sb.base_url('x')}/2/users/{account.account_id}/tweets",
        params={
            "max_results": "100",
            "start_time": "2026-10-23T00:00:00Z",
            "end_time": "2026-11-20T00:00:00Z",
            "tweet.fields": FIELDS,
            **params,
        },
        headers={"Authorization": "Bearer rt-token"},
        timeout=10,
    )


def retweets_in(tweets: list[dict]) -> list[dict]:
    return [t for t in tweets if t.get("referenced_tweets")]


def x_client(sb: Sandbox, include_retweets: bool = False) -> XClient:
    account_id = sb.world.accounts("x")[0].account_id
    sb.grant("x", "rt-client", account_id)
    session = make_session("x", sb.base_url("x"), policy=helpers.fast_policy())
    return XClient(session, account_id, "rt-client", include_retweets=include_retweets)


def test_the_emulator_timeline_includes_retweets_in_x_wire_shape(sandbox: Sandbox) -> None:
    tweets = timeline(sandbox).json()["data"]

    retweets = retweets_in(tweets)
    assert 0 < len(retweets) < len(tweets) / 2  # about one item in five
    own = helpers.world_post_ids(sandbox, "x", WINDOW, sandbox.world.accounts("x")[0].account_id)
    assert [t["id"] for t in tweets if t not in retweets] == own  # own posts intact, in order
    other = sandbox.world.accounts("x")[1]
    for tweet in retweets:
        (ref,) = tweet["referenced_tweets"]
        assert ref["type"] == "retweeted"
        original = sandbox.world.find_post("x", ref["id"])
        assert original is not None and original.account_id == other.account_id
        assert tweet["text"] == f"RT @{other.handle}: {original.text}"
        assert tweet["public_metrics"]["like_count"] == sandbox.world.metrics(original)["likes"]
        assert tweet["id"] not in own and "attachments" not in tweet


@pytest.mark.parametrize("exclude", ["retweets", "replies,retweets"])
def test_exclude_retweets_leaves_them_out(sandbox: Sandbox, exclude: str) -> None:
    tweets = timeline(sandbox, exclude=exclude).json()["data"]

    assert retweets_in(tweets) == []
    assert not any(t["text"].startswith("RT @") for t in tweets)
    account_id = sandbox.world.accounts("x")[0].account_id
    assert [t["id"] for t in tweets] == helpers.world_post_ids(sandbox, "x", WINDOW, account_id)


def test_an_unknown_exclude_value_is_an_invalid_request(sandbox: Sandbox) -> None:
    response = timeline(sandbox, exclude="quotes")

    assert response.status_code == 400
    assert response.json()["errors"][0]["parameters"] == {"exclude": ["quotes"]}


def test_the_client_sends_exclude_retweets_and_asks_for_referenced_tweets(
    sandbox: Sandbox,
) -> None:
    list(x_client(sandbox).list_posts(WINDOW))

    (sent,) = sandbox.requests_for("x", "/tweets")
    assert sent.query["exclude"] == "retweets"
    assert "referenced_tweets" in sent.query["tweet.fields"].split(",")


def test_included_retweets_page_through_but_are_never_listed_as_posts(busy: Sandbox) -> None:
    client = x_client(busy, include_retweets=True)

    pages, _ = helpers.listed_in_window(client, busy, WINDOW)  # own posts only, each once

    sent = [r for r in busy.requests_for("x", "/tweets") if r.path != "/2/tweets"]
    assert len(sent) > 1 and all("exclude" not in r.query for r in sent)
    served = [t for p in pages for t in p.body["data"]]
    assert retweets_in(served) and len({t["id"] for t in served}) == len(served)


def test_the_normalizer_quarantines_retweets_instead_of_storing_them(sandbox: Sandbox) -> None:
    pull = helpers.land_pull(sandbox, "x", WINDOW)
    client = x_client(sandbox, include_retweets=True)
    pull.records = [r for r in pull.records if r["kind"] != "posts"] + [
        p.to_record() for p in client.list_posts(WINDOW)
    ]

    frames = normalize([pull])

    served = [t for r in pull.records if r["kind"] == "posts" for t in r["body"]["data"]]
    retweet_ids = {t["id"] for t in retweets_in(served)}
    assert retweet_ids
    assert retweet_ids.isdisjoint(frames.posts["post_id"])
    assert retweet_ids.isdisjoint(frames.engagement["post_id"])
    assert frames.posts.height == len(served) - len(retweet_ids)
    assert frames.quarantine["reason"].to_list() == [RETWEET] * len(retweet_ids)


def test_an_old_landing_without_referenced_tweets_still_spots_retweets(sandbox: Sandbox) -> None:
    pull = helpers.land_pull(sandbox, "x", WINDOW)
    page = helpers.first_page(pull, "posts")["body"]
    page["data"][0]["text"] = "RT @someone_else: their words"

    frames = normalize([pull])

    assert page["data"][0]["id"] not in frames.posts["post_id"].to_list()
    assert frames.quarantine["reason"].to_list() == [RETWEET]


def x_posts(d: Deployment) -> list[str]:
    return d.table("SELECT post_id FROM social_posts WHERE platform = 'x'")["post_id"].to_list()


def test_by_default_no_retweet_is_requested_or_stored(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)

    assert d.materialize(DAY, selection="raw_x*").success

    timelines = [r for r in d.sandbox.requests_for("x", "/tweets") if r.path != "/2/tweets"]
    assert timelines and all(r.query.get("exclude") == "retweets" for r in timelines)
    assert x_posts(d) and not any(p.startswith("19") for p in x_posts(d))
    assert d.table("SELECT * FROM quarantined_records").is_empty()


def test_included_retweets_are_requested_and_flagged_not_stored_as_posts(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    monkeypatch.setenv(ENV, "true")

    assert d.materialize(DAY, selection="raw_x*").success

    timelines = [r for r in d.sandbox.requests_for("x", "/tweets") if r.path != "/2/tweets"]
    assert timelines and all("exclude" not in r.query for r in timelines)
    stored = set(x_posts(d))
    expected = {
        p
        for a in d.sandbox.world.accounts("x")
        for p in helpers.world_post_ids(d.sandbox, "x", WINDOW, a.account_id)
    }
    assert stored == expected  # exactly the accounts' own posts
    flagged = d.table("SELECT platform, reason, record FROM quarantined_records")
    assert flagged.height > 0 and set(flagged["reason"]) == {RETWEET}
    assert all('"retweeted"' in r for r in flagged["record"])


@pytest.mark.parametrize(("value", "expected"), [("", False), ("true", True), ("0", False)])
def test_include_retweets_is_a_boolean_setting(value: str, expected: bool) -> None:
    assert load_settings({ENV: value}).x_include_retweets is expected
    assert load_settings({ENV: value.upper()}).x_include_retweets is expected


@pytest.mark.parametrize("value", ["maybe", "2", "on"])
def test_a_bad_include_retweets_value_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=ENV):
        load_settings({ENV: value})
