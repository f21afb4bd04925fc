"""Asset checks surface partial failures and data-quality problems in the UI."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from social_pipeline.definitions import defs as load_definitions
from social_pipeline.operations.quality import duplicate_posts, follower_drops, negative_followers
from social_pipeline_tests.helpers import Deployment, revoke_accounts

DAY = date(2026, 11, 19)


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            found[f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"] = evaluation
    return found


def test_a_day_with_a_failed_account_warns_on_that_platform_only(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    [victim] = revoke_accounts(d, "facebook", slice(0, 1))

    checks = evaluations(d.materialize(DAY))

    failed = checks["raw_facebook:every_account_collected"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.WARN
    assert victim in str(failed.metadata["uncollected_accounts"].value)
    for platform in ("instagram", "x", "linkedin", "youtube", "tiktok"):
        assert checks[f"raw_{platform}:every_account_collected"].passed
    for name in (
        "posts:no_duplicate_post_ids",
        "follower_snapshots:followers_not_negative",
        "follower_snapshots:no_follower_collapse",
    ):
        assert checks[name].passed, name


def test_quality_rules_catch_duplicates_negative_counts_and_collapses() -> None:
    posts = pl.DataFrame({"platform": ["x", "x", "x"], "post_id": ["1", "1", "2"]})
    assert duplicate_posts(posts).rows() == [("x", "1", 2)]
    today = pl.DataFrame(
        {
            "platform": ["x", "x"],
            "account_id": ["a", "b"],
            "followers": [40, 95],
            "following": [1, -1],
            "posts_count": [3, 3],
        }
    )
    previous = pl.DataFrame(
        {"platform": ["x", "x"], "account_id": ["a", "b"], "followers": [100, 100]}
    )
    assert negative_followers(today)["account_id"].to_list() == ["b"]
    assert follower_drops(today, previous)["account_id"].to_list() == ["a"]  # 60% drop; b lost 5%


def test_normalized_tables_carry_a_two_hour_freshness_policy() -> None:
    graph = load_definitions().resolve_asset_graph()
    for key in ("posts", "engagement_snapshots", "follower_snapshots"):
        policy = graph.get(dg.AssetKey(key)).freshness_policy
        assert policy is not None and policy.warn_window.to_timedelta().total_seconds() == 2 * 3600
