"""Age-tiered refresh: young posts read every run, older ones only when due.

With SOCIAL_PIPELINE_X_TIERED_REFRESH=2,3 the X timeline is listed for the last two days
only, and older posts of the window are looked up by id when their last read is three
or more days old. Every post still has a row per collection day; rows not read that
day carry the last numbers and the day they were read (`read_on`).
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from social_pipeline.core.settings import SettingsError, load_settings
from social_pipeline.core.window import CollectionWindow, RefreshTier
from social_pipeline.storage import raw
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment

DAY1 = date(2026, 11, 16)
TIERED = dg.AssetSelection.assets("raw_x", "raw_youtube").downstream()


def test_tiers_are_read_per_platform_and_refused_where_they_cannot_save() -> None:
    settings = load_settings(
        {
            "SOCIAL_PIPELINE_X_TIERED_REFRESH": "3,7",
            "SOCIAL_PIPELINE_YOUTUBE_TIERED_REFRESH": " 5, 5 ",
        }
    )
    assert settings.refresh_tiers == {"x": RefreshTier(3, 7), "youtube": RefreshTier(5, 5)}
    with pytest.raises(SettingsError, match="SOCIAL_PIPELINE_X_TIERED_REFRESH='3'.*e.g. 3,7"):
        load_settings({"SOCIAL_PIPELINE_X_TIERED_REFRESH": "3"})
    with pytest.raises(SettingsError, match="at least 1"):
        load_settings({"SOCIAL_PIPELINE_X_TIERED_REFRESH": "0,7"})
    with pytest.raises(
        SettingsError, match="SOCIAL_PIPELINE_FACEBOOK_TIERED_REFRESH.*x and youtube"
    ):
        load_settings({"SOCIAL_PIPELINE_FACEBOOK_TIERED_REFRESH": "3,7"})


def collect_days(d: Deployment, days: int) -> list[date]:
    collected = []
    for n in range(days):
        day = DAY1 + timedelta(days=n)
        d.clock.morning_after(day)
        assert d.materialize(day, TIERED).success
        collected.append(day)
    return collected


def test_x_reads_young_posts_daily_and_older_ones_when_due(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    monkeypatch.setenv("SOCIAL_PIPELINE_X_TIERED_REFRESH", "2,3")
    days = collect_days(d, 4)
    account = d.sandbox.world.accounts("x")[0].account_id

    rows = d.table(
        "SELECT snapshot_date, post_id, read_on, likes FROM engagement_snapshots "
        f"WHERE platform = 'x' AND account_id = '{account}' ORDER BY snapshot_date, post_id"
    )
    for day in days:
        window = CollectionWindow(day)
        expected = set(helpers.world_post_ids(d.sandbox, "x", window, account))
        of_day = rows.filter(rows["snapshot_date"] == day)
        # Every post of the window has its row each day, tiered or not.
        assert set(of_day["post_id"]) == expected
        fresh_start = CollectionWindow(day, 2).start
        created = {
            p.post_id: p.created_at
            for p in d.sandbox.world.posts_between("x", account, window.start, window.end)
        }
        for post_id, read_on in zip(of_day["post_id"], of_day["read_on"], strict=True):
            if day == days[0] or created[post_id] >= fresh_start:
                # Nothing read before (day 1: the whole window), or young: read today.
                assert read_on == day, post_id
            else:
                # Older: carried while its last read is under 3 days old, else read again.
                assert 0 <= (day - read_on).days < 3, (post_id, day, read_on)
    on_day4 = rows.filter(rows["snapshot_date"] == days[3])
    assert days[0] not in set(on_day4["read_on"])  # day 1's reads were due again

    # A carried row holds the numbers of the day they were read, not new ones.
    by_key = {(r["snapshot_date"], r["post_id"]): r for r in rows.iter_rows(named=True)}
    carried = [r for r in rows.iter_rows(named=True) if r["read_on"] != r["snapshot_date"]]
    assert carried
    for row in carried:
        assert row["likes"] == by_key[(row["read_on"], row["post_id"])]["likes"]


def x_posts_read(d: Deployment, day: date) -> int:
    """Posts X returned (and bills) on `day`: tweets in the landed timeline and look-ups."""
    return sum(
        len(record["body"].get("data") or [])
        for pull in raw.read_pulls(d.data_dir, "x", day)
        for record in pull.records
        if record.get("kind") in ("posts", "metrics") and isinstance(record.get("body"), dict)
    )


def test_tiers_save_x_post_reads_and_youtube_calls(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    monkeypatch.setenv("SOCIAL_PIPELINE_X_TIERED_REFRESH", "2,7")
    monkeypatch.setenv("SOCIAL_PIPELINE_YOUTUBE_TIERED_REFRESH", "2,7")
    day1, day2, _ = collect_days(d, 3)
    jobs = d.table(
        "SELECT partition_date, platform, sum(api_calls) AS calls FROM data_collection_jobs "
        "GROUP BY ALL"
    )
    calls = {(r["partition_date"], r["platform"]): r["calls"] for r in jobs.iter_rows(named=True)}
    # Day 1 reads the whole window (nothing was read before); day 2 its last 2 days.
    assert calls[(day2, "youtube")] < calls[(day1, "youtube")]
    assert x_posts_read(d, day2) < x_posts_read(d, day1) / 4
