"""Graph insights follow the metric catalog: per API version and media type, what to ask
and which column it feeds. A metric Graph refuses for a media type costs that column for
those posts only, never the day, and shows in `unavailable_metrics`; an old version reads
views from `plays`; Facebook post insights come inside the listing (2 calls a day).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from social_pipeline.clients.instagram import InstagramClient
from social_pipeline.core import metric_catalog as catalog
from social_pipeline.core.window import CollectionWindow
from social_pipeline.operations.registry import make_session
from social_pipeline.sandbox import instagram as sandbox_instagram
from social_pipeline.sandbox.graph import insight_knobs
from social_pipeline.sandbox.protocol import Emulator
from social_pipeline.sandbox.server import Sandbox
from social_pipeline.sandbox.world import Post
from social_pipeline.storage import raw
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment

DAY = date(2026, 11, 19)
IG_VERSION = "SOCIAL_PIPELINE_INSTAGRAM_API_VERSION"
# World content type (sandbox) -> the catalog's media type.
IG_MEDIA = {
    "IMAGE": catalog.FEED_IMAGE,
    "VIDEO": catalog.FEED_VIDEO,
    "CAROUSEL_ALBUM": catalog.FEED_ALBUM,
    "REELS": catalog.REELS,
}


def collect(d: Deployment, platform: str) -> None:
    helpers.collect_day(d, DAY, [platform])


def statuses(d: Deployment, platform: str) -> set[str]:
    return {job["status"] for job in raw.read_jobs(d.data_dir, platform, DAY)}


def engagement(d: Deployment, platform: str) -> pl.DataFrame:
    return d.table(
        f"SELECT * FROM engagement_snapshots WHERE platform = '{platform}' ORDER BY post_id"
    )


def media_types(sb: Sandbox, post_ids: list[str]) -> dict[str, str]:
    found = {i: sb.world.find_post("instagram", i) for i in post_ids}
    return {i: IG_MEDIA[p.content_type] for i, p in found.items() if p is not None}


def gap_keys(d: Deployment, platform: str, kind: str = "unavailable_metric") -> set[tuple]:
    frame = d.table(
        "SELECT post_id, field, media_type, api_version FROM data_gaps "
        f"WHERE platform = '{platform}' AND kind = '{kind}'"
    )
    return set(frame.rows())


def calls_per_account(sb: Sandbox, platform: str) -> float:
    return len(sb.requests_for(platform)) / len(sb.world.accounts(platform))


# -- the catalog ----------------------------------------------------------------------------


def test_the_catalog_asks_views_from_v22_and_plays_before_for_reels_and_videos() -> None:
    assert catalog.metrics_for("instagram", "v24.0", catalog.REELS) == [
        "reach",
        "saved",
        "shares",
        "views",
    ]
    assert catalog.metrics_for("instagram", "v21.0", catalog.REELS) == [
        "reach",
        "saved",
        "shares",
        "plays",
    ]
    assert "impressions" in catalog.metrics_for("instagram", "v21.0", catalog.FEED_IMAGE)
    assert "saved" not in catalog.metrics_for("instagram", "v24.0", catalog.STORY_VIDEO)
    assert catalog.columns("instagram")["views"] == ["views", "plays"]  # views wins
    assert catalog.listing_metrics("instagram", "v21.0") == ["reach", "saved", "shares"]
    assert set(catalog.unfed_columns("instagram", "v21.0", catalog.FEED_IMAGE)) == {"views"}
    assert catalog.unfed_columns("instagram", "v24.0", catalog.FEED_IMAGE) == {}


def test_facebook_post_insights_use_the_2025_names() -> None:
    assert {
        m: catalog.column_of("facebook", m)
        for m in catalog.metrics_for("facebook", "v24.0", catalog.POST)
    } == {
        "post_media_view": "views",
        "post_total_media_view_unique": "reach",
        "post_clicks": "clicks",
    }


# -- Instagram ------------------------------------------------------------------------------


def test_a_metric_one_media_type_refuses_is_null_for_those_posts_only_and_recorded(
    deployment: Deployment,
) -> None:
    d = deployment
    insight_knobs(d.sandbox).refused_metrics.append(("saved", "REELS", None))

    collect(d, "instagram")

    assert statuses(d, "instagram") == {"success"}
    rows = engagement(d, "instagram")
    kinds = media_types(d.sandbox, rows["post_id"].to_list())
    reels = {i for i, kind in kinds.items() if kind == catalog.REELS}
    assert reels and len(reels) < rows.height
    no_saves = set(rows.filter(pl.col("saves").is_null())["post_id"])
    assert no_saves == reels
    for column in ("likes", "comments", "shares", "views", "reach"):
        assert rows[column].null_count() == 0, column
    assert gap_keys(d, "instagram") == {(i, "saved", catalog.REELS, "v24.0") for i in reels}
    view = d.table(
        "SELECT platform, api_version, media_type, metric, posts, detail FROM unavailable_metrics"
    )
    assert view.rows() == [
        (
            "instagram",
            "v24.0",
            catalog.REELS,
            "saved",
            len(reels),
            "Graph error 100: (#100) The Media Insights API does not support the saved "
            "metric for this media product type.",
        )
    ]
    assert d.table("SELECT count(*) AS n FROM quarantined_records")["n"][0] == 0


def test_a_refusal_is_remembered_for_the_next_account_of_the_session(sandbox: Sandbox) -> None:
    insight_knobs(sandbox).refused_metrics.append(("saved", "REELS", None))
    session = make_session("instagram", sandbox.base_url("instagram"), policy=helpers.fast_policy())
    window = CollectionWindow(DAY)
    first, second = (a.account_id for a in sandbox.world.accounts("instagram"))
    for account_id in (first, second):
        sandbox.grant("instagram", f"tok-{account_id}", account_id)
    list(InstagramClient(session, first, f"tok-{first}").collect(window))
    before = len(sandbox.log)
    pages = list(InstagramClient(session, second, f"tok-{second}").collect(window))

    later = list(sandbox.log)[before:]
    assert all(r.status == 200 for r in later)  # nothing refused twice
    assert len(later) == 3  # profile, listing without `saved`, feed media's `saved` by ?ids=
    listing = [r for r in later if r.path.endswith("/media")]
    assert listing and all("saved" not in r.query["fields"] for r in listing)
    # Feed media still get `saved`, by one `?ids=` call per media type.
    looked_up = [r.query["ids"].split(",") for r in later if r.query.get("ids")]
    assert looked_up and catalog.REELS not in media_types(sandbox, sum(looked_up, [])).values()
    notes = [n for p in pages for n in p.notes]
    assert notes and {n["field"] for n in notes} == {"saved"}
    assert set(media_types(sandbox, [n["post_id"] for n in notes]).values()) == {catalog.REELS}
    assert {n["media_type"] for n in notes} == {catalog.REELS}


def test_an_old_version_reads_views_from_plays_and_no_view_is_null_without_a_gap(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    monkeypatch.setenv(IG_VERSION, "v21.0")

    collect(d, "instagram")

    assert statuses(d, "instagram") == {"success"}
    assert all(r.path.startswith("/v21.0/") for r in d.sandbox.requests_for("instagram"))
    # profile, listing, `plays` for videos and reels, `impressions` for images and albums
    assert calls_per_account(d.sandbox, "instagram") == 4
    assert all(r.status == 200 for r in d.sandbox.requests_for("instagram"))
    rows = engagement(d, "instagram")
    kinds = media_types(d.sandbox, rows["post_id"].to_list())
    for row in rows.iter_rows(named=True):
        post = d.sandbox.world.find_post("instagram", row["post_id"])
        assert post is not None
        views = d.sandbox.world.metrics(post)["views"]
        if kinds[row["post_id"]] in (catalog.REELS, catalog.FEED_VIDEO):
            assert row["views"] == views  # `plays`, read as views
        else:
            assert row["views"] is None and row["impressions"] == views
    gaps = gap_keys(d, "instagram")
    null_views = set(rows.filter(pl.col("views").is_null())["post_id"])
    assert null_views and {(i, "views", kinds[i], "v21.0") for i in null_views} == gaps


def test_a_metric_asked_but_not_answered_is_null_with_a_missing_field_gap(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    account_id = d.sandbox.world.accounts("instagram")[0].account_id
    quiet = d.sandbox.world.posts_on_day("instagram", account_id, DAY)[0].post_id
    answered = sandbox_instagram.insight_data

    def without_views(post: Post, sb: Emulator, names: list[str]) -> list[dict]:
        # Graph answers an empty set where it has no data yet.
        entries = answered(post, sb, names)
        return [e for e in entries if post.post_id != quiet or e["name"] != "views"]

    monkeypatch.setattr(sandbox_instagram, "insight_data", without_views)
    collect(d, "instagram")

    rows = engagement(d, "instagram")
    assert set(rows.filter(pl.col("views").is_null())["post_id"]) == {quiet}
    assert gap_keys(d, "instagram", "missing_field") == {
        (quiet, "views", media_types(d.sandbox, [quiet])[quiet], "v24.0")
    }


def test_instagram_needs_at_most_three_calls_per_account_day(deployment: Deployment) -> None:
    d = deployment
    collect(d, "instagram")

    assert calls_per_account(d.sandbox, "instagram") == 2
    assert gap_keys(d, "instagram") == set()
    rows = engagement(d, "instagram")
    for column in ("views", "reach", "saves", "shares"):
        assert rows[column].null_count() == 0, column


# -- Facebook -------------------------------------------------------------------------------


def test_facebook_views_reach_and_clicks_come_inside_the_listing_in_two_calls(
    deployment: Deployment,
) -> None:
    d = deployment
    collect(d, "facebook")

    assert statuses(d, "facebook") == {"success"}
    assert calls_per_account(d.sandbox, "facebook") == 2
    listing = d.sandbox.requests_for("facebook", "/posts")
    assert all("insights.metric(post_media_view," in r.query["fields"] for r in listing)
    rows = engagement(d, "facebook")
    assert rows.height
    for row in rows.iter_rows(named=True):
        post = d.sandbox.world.find_post("facebook", row["post_id"])
        assert post is not None
        world = d.sandbox.world.metrics(post)
        assert (row["views"], row["reach"], row["clicks"]) == (
            world["views"],
            world["reach"],
            world["clicks"],
        )
    assert rows["engagement_rate_per_view"].null_count() == 0


def test_facebook_with_insights_refused_still_collects_engagement_and_records_gaps(
    deployment: Deployment,
) -> None:
    d = deployment
    insight_knobs(d.sandbox).page_insights_refused = True

    collect(d, "facebook")

    assert statuses(d, "facebook") == {"success"}
    accounts = len(d.sandbox.world.accounts("facebook"))
    listing = d.sandbox.requests_for("facebook", "/posts")
    assert sorted(r.status for r in listing) == [200] * accounts + [403] * accounts
    rows = engagement(d, "facebook")
    assert rows.height
    for column in ("views", "reach", "clicks", "engagement_rate_per_view"):
        assert rows[column].null_count() == rows.height, column
    for column in ("likes", "comments", "shares", "engagement_rate"):
        assert rows[column].null_count() == 0, column
    metrics = ("post_media_view", "post_total_media_view_unique", "post_clicks")
    assert gap_keys(d, "facebook") == {
        (i, m, catalog.POST, "v24.0") for i in rows["post_id"] for m in metrics
    }
    (detail,) = d.table(
        "SELECT DISTINCT detail FROM unavailable_metrics WHERE platform = 'facebook'"
    )["detail"]
    assert "read_insights" in detail
