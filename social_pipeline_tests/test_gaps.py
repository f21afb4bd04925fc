"""What the platforms did not give is recorded, never lost silently.

A post deleted between two collection days becomes a tombstone (`post_tombstones`, with
the last day it was returned); a video the uploads playlist lists but `videos.list` leaves
out (private) loses its engagement row with a gap saying so; a response lacking a count it
was asked for leaves that count NULL and a `missing_field` gap; rates of unknown inputs
are NULL, not 0.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, time

import polars as pl
import pytest

from social_pipeline.clients.youtube import UNLISTED_BY_VIDEOS
from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize.rates import with_rates
from social_pipeline.operations.store import store_day
from social_pipeline.sandbox.protocol import Fault
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.sandbox.world import Post
from social_pipeline.storage import raw
from social_pipeline.storage.warehouse import build_warehouse
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment

DAY_BEFORE = date(2026, 11, 18)
DAY = date(2026, 11, 19)
DAY_AFTER = date(2026, 11, 20)
# Created inside the 28-day windows of all three days.
POSTED = date(2026, 11, 10)


def collect(d: Deployment, day: date, platforms: tuple[str, ...] = ("x",)) -> None:
    helpers.collect_day(d, day, platforms)


def a_post(sb: Sandbox, platform: str, account: int = 0) -> Post:
    account_id = sb.world.accounts(platform)[account].account_id
    return sb.world.posts_on_day(platform, account_id, POSTED)[0]


def tombstones(d: Deployment) -> list[tuple]:
    frame = d.table(
        "SELECT platform, post_id, last_seen, missing_on FROM post_tombstones ORDER BY ALL"
    )
    return frame.rows()


def gaps(d: Deployment, kind: str) -> pl.DataFrame:
    return d.table(f"SELECT * FROM data_gaps WHERE kind = '{kind}' ORDER BY ALL")


def morning(day: date) -> datetime:
    return datetime.combine(day, time(6), tzinfo=UTC)


# -- the emulator can lose posts ------------------------------------------------------


def test_a_deleted_post_leaves_the_emulators_listings_and_look_ups(sandbox: Sandbox) -> None:
    post = a_post(sandbox, "x")
    window = CollectionWindow(DAY)
    assert post.post_id in helpers.world_post_ids(sandbox, "x", window)

    sandbox.world.remove_post("x", post.post_id)

    assert post.post_id not in helpers.world_post_ids(sandbox, "x", window)
    assert sandbox.world.find_post("x", post.post_id) is None
    sandbox.world.restore_post("x", post.post_id)
    assert sandbox.world.find_post("x", post.post_id) == post


def test_a_removal_holds_only_from_its_moment(sandbox: Sandbox) -> None:
    post = a_post(sandbox, "tiktok")
    sandbox.world.remove_post("tiktok", post.post_id, at=helpers.FROZEN_NOW.replace(year=2027))

    assert sandbox.world.find_post("tiktok", post.post_id) == post


def test_a_private_video_stays_in_the_playlist_but_videos_list_leaves_it_out(
    sandbox: Sandbox,
) -> None:
    post = a_post(sandbox, "youtube")
    sandbox.world.remove_post("youtube", post.post_id, still_listed=True)

    pull = helpers.land_pull(sandbox, "youtube", CollectionWindow(DAY))

    listed = [
        i["contentDetails"]["videoId"]
        for r in pull.records
        if r["kind"] == "posts"
        for i in r["body"]["items"]
    ]
    looked_up = [
        i["id"] for r in pull.records if r["kind"] == "metrics" for i in r["body"]["items"]
    ]
    notes = [n for r in pull.records for n in r.get("notes", [])]
    assert post.post_id in listed and post.post_id not in looked_up
    assert notes == [
        {"kind": "post_unavailable", "post_id": post.post_id, "detail": UNLISTED_BY_VIDEOS}
    ]


@pytest.mark.parametrize("platform", ["linkedin", "x", "tiktok"])
def test_a_batch_look_up_that_leaves_a_post_out_notes_it(sandbox: Sandbox, platform: str) -> None:
    post = a_post(sandbox, platform)
    sandbox.world.remove_post(platform, post.post_id, still_listed=True)
    client = helpers.make_client(sandbox, platform)
    kept = helpers.world_post_ids(sandbox, platform, CollectionWindow(DAY))[:3]

    (page,) = client.fetch_metrics([post.post_id, *kept])

    assert [(n["kind"], n["post_id"]) for n in page.notes] == [("post_unavailable", post.post_id)]


# -- tombstones, end to end -----------------------------------------------------------


def test_a_post_deleted_between_two_days_is_a_tombstone_last_seen_the_day_before(
    deployment: Deployment,
) -> None:
    d = deployment
    post = a_post(d.sandbox, "x")
    collect(d, DAY_BEFORE)
    d.sandbox.world.remove_post("x", post.post_id, at=morning(DAY))

    collect(d, DAY)

    assert tombstones(d) == [("x", post.post_id, DAY_BEFORE, DAY)]
    posts = d.table(f"SELECT snapshot_date FROM social_posts WHERE post_id = '{post.post_id}'")
    assert posts["snapshot_date"].to_list() == [DAY_BEFORE]  # its history is kept


def test_a_post_returned_again_later_is_no_tombstone(deployment: Deployment) -> None:
    d = deployment
    post = a_post(d.sandbox, "x")
    collect(d, DAY_BEFORE)
    d.sandbox.world.remove_post("x", post.post_id, at=morning(DAY))
    collect(d, DAY)
    d.sandbox.world.restore_post("x", post.post_id, at=morning(DAY_AFTER))

    collect(d, DAY_AFTER)

    assert tombstones(d) == []
    assert gaps(d, "post_unavailable")["post_id"].to_list() == [post.post_id]  # the day it was not


def test_a_failed_pull_never_makes_tombstones(deployment: Deployment) -> None:
    d = deployment
    account = d.sandbox.world.accounts("x")[0]
    post = a_post(d.sandbox, "x")
    collect(d, DAY_BEFORE)
    d.sandbox.world.remove_post("x", post.post_id, at=morning(DAY))
    token = d.tokens[("x", account.account_id)]
    d.sandbox.inject(
        Fault("server_error", platform="x", path_contains="/tweets", token=token, times=20)
    )

    collect(d, DAY)

    (pull,) = [
        p for p in raw.read_pulls(d.data_dir, "x", DAY) if p.account_id == account.account_id
    ]
    assert not pull.complete
    assert tombstones(d) == []


def test_a_quarantined_post_is_no_tombstone(deployment: Deployment) -> None:
    d = deployment
    account = d.sandbox.world.accounts("x")[0]
    post = a_post(d.sandbox, "x")
    collect(d, DAY_BEFORE)
    collect(d, DAY)
    # Today's landing returned the post, but in a shape that cannot be used.
    path = raw.pull_path(raw.partition_dir(d.data_dir, "x", DAY), account.account_id)
    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    for record in lines[1:]:
        for tweet in (record.get("body") or {}).get("data") or []:
            if isinstance(tweet, dict) and tweet.get("id") == post.post_id:
                tweet["created_at"] = "yesterday"
    raw.write_pull(path, {k: v for k, v in lines[0].items() if k != "kind"}, lines[1:])

    store_day(d.data_dir, DAY)
    build_warehouse(d.data_dir)

    quarantined = d.table("SELECT record FROM quarantined_records")["record"].to_list()
    assert any(post.post_id in r for r in quarantined)
    assert tombstones(d) == []


def test_a_private_video_loses_its_engagement_with_a_gap_and_a_tombstone(
    deployment: Deployment,
) -> None:
    d = deployment
    post = a_post(d.sandbox, "youtube")
    collect(d, DAY_BEFORE, ("youtube",))
    d.sandbox.world.remove_post("youtube", post.post_id, at=morning(DAY), still_listed=True)

    collect(d, DAY, ("youtube",))

    (gap,) = gaps(d, "post_unavailable").iter_rows(named=True)
    assert (gap["snapshot_date"], gap["post_id"], gap["detail"]) == (
        DAY,
        post.post_id,
        UNLISTED_BY_VIDEOS,
    )
    assert tombstones(d) == [("youtube", post.post_id, DAY_BEFORE, DAY)]
    engagement = d.table(
        f"SELECT snapshot_date FROM engagement_snapshots WHERE post_id = '{post.post_id}'"
    )
    assert engagement["snapshot_date"].to_list() == [DAY_BEFORE]


def test_a_private_video_the_playlist_shows_without_its_date_is_a_tombstone(
    deployment: Deployment,
) -> None:
    # With an API key, the uploads playlist keeps a private video as "Private video" with
    # no videoPublishedAt: its record is quarantined, but it is not the post returned.
    d = deployment
    post = a_post(d.sandbox, "youtube")
    collect(d, DAY_BEFORE, ("youtube",))
    d.clock.morning_after(DAY)
    d.sandbox.world.remove_post("youtube", post.post_id)
    pull = helpers.land_pull(d.sandbox, "youtube", CollectionWindow(DAY))
    helpers.first_page(pull, "posts")["body"]["items"].append(
        {
            "snippet": {"title": "Private video", "description": "This video is private."},
            "contentDetails": {"videoId": post.post_id},
        }
    )
    store_landed(d, pull)

    assert tombstones(d) == [("youtube", post.post_id, DAY_BEFORE, DAY)]


def test_a_video_never_read_has_a_tombstone_without_last_seen(deployment: Deployment) -> None:
    d = deployment
    post = a_post(d.sandbox, "youtube")
    d.sandbox.world.remove_post("youtube", post.post_id, at=morning(DAY), still_listed=True)

    collect(d, DAY, ("youtube",))

    assert tombstones(d) == [("youtube", post.post_id, None, DAY)]


# -- missing fields -------------------------------------------------------------------


def store_landed(d: Deployment, pull: RawPull) -> None:
    """A day's pull (a test's edited one) landed as if collected, then stored in the lake
    and built into the warehouse."""
    window = CollectionWindow(DAY)
    header = {
        "platform": pull.platform,
        "account_id": pull.account_id,
        "partition_date": DAY.isoformat(),
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "collected_at": morning(DAY_AFTER).isoformat(),
        "job_id": "job-gaps",
        "status": "success",
    }
    folder = raw.partition_dir(d.data_dir, pull.platform, DAY)
    raw.write_pull(raw.pull_path(folder, pull.account_id), header, pull.records)
    store_day(d.data_dir, DAY)
    build_warehouse(d.data_dir)


def test_a_profile_without_public_metrics_has_null_followers_and_a_gap(
    deployment: Deployment,
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    pull = helpers.land_pull(d.sandbox, "x", CollectionWindow(DAY))
    del helpers.first_page(pull, "profile")["body"]["data"]["public_metrics"]
    store_landed(d, pull)

    followers = d.table("SELECT followers FROM follower_snapshots")
    assert followers["followers"].to_list() == [None]
    missing = gaps(d, "missing_field").select("post_id", "field").rows()
    assert missing == [
        (None, "public_metrics.followers_count"),
        (None, "public_metrics.following_count"),
        (None, "public_metrics.tweet_count"),
    ]
    rates = d.table("SELECT engagement_rate, engagement_rate_per_view FROM engagement_snapshots")
    assert rates["engagement_rate"].null_count() == len(rates)  # followers unknown: NULL
    assert rates["engagement_rate_per_view"].null_count() < len(rates)


def test_a_post_lacking_a_count_it_was_asked_for_has_it_null_and_a_gap(
    deployment: Deployment,
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    pull = helpers.land_pull(d.sandbox, "tiktok", CollectionWindow(DAY))
    video = helpers.first_page(pull, "posts")["body"]["data"]["videos"][0]
    del video["share_count"]
    store_landed(d, pull)

    row = d.table(f"SELECT shares, likes FROM engagement_snapshots WHERE post_id = '{video['id']}'")
    assert row.rows() == [(None, video["like_count"])]
    assert gaps(d, "missing_field").select("post_id", "field").rows() == [
        (video["id"], "share_count")
    ]


def test_a_complete_day_on_the_emulator_has_no_missing_fields(deployment: Deployment) -> None:
    d = deployment
    collect(d, DAY, ("x", "youtube", "linkedin", "tiktok", "facebook", "instagram"))

    assert gaps(d, "missing_field").is_empty()
    assert gaps(d, "post_unavailable").is_empty()


def test_rates_are_null_not_zero_when_their_inputs_are_unknown() -> None:
    day = DAY
    key = {"snapshot_date": day, "platform": "x", "account_id": "1"}
    engagement = pl.DataFrame(
        [
            {**key, "post_id": "a", "likes": None, "comments": None, "views": None},
            {**key, "post_id": "b", "likes": 5, "comments": 1, "views": 0},
        ]
    )
    followers = pl.DataFrame([{**key, "followers": None}])

    rated = with_rates(
        schema.conform(engagement, schema.ENGAGEMENT), schema.conform(followers, schema.FOLLOWERS)
    ).sort("post_id")

    assert rated.select("interactions", "engagement_rate", "engagement_rate_per_view").rows() == [
        (None, None, None),
        (6, None, None),
    ]
