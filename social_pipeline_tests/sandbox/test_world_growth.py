"""The sandbox world grows day by day, deterministically, so growth plots show real lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.sandbox.world import World
from social_pipeline.storage.warehouse import query
from social_pipeline_tests.helpers import FROZEN_NOW, Deployment

WEEK = [date(2026, 11, 8) + timedelta(days=n) for n in range(14)]


def morning(day: date) -> datetime:
    return datetime.combine(day, time(6), tzinfo=UTC)


def follower_series(world: World, platform: str, n: int) -> list[int]:
    account = world.accounts(platform)[n]
    return [world.followers(account, morning(day))["followers"] for day in WEEK]


def test_every_account_gains_or_loses_followers_every_day() -> None:
    world = World(clock=lambda: FROZEN_NOW)
    for platform in PLATFORMS:
        for n in range(2):
            series = follower_series(world, platform, n)
            assert all(a != b for a, b in pairwise(series)), (platform, n, series)
            assert series[-1] > series[0], (platform, n, series)  # growing, over two weeks


def test_accounts_grow_at_rates_of_their_own() -> None:
    world = World(clock=lambda: FROZEN_NOW)
    gains = {
        (platform, n): series[-1] - series[0]
        for platform in PLATFORMS
        for n in range(2)
        for series in [follower_series(world, platform, n)]
    }
    assert len(set(gains.values())) == len(gains), gains
    assert max(gains.values()) > 3 * min(gains.values()), gains
    # Day-to-day gains are not a straight line either: the week has a rhythm, and noise.
    steps = [b - a for a, b in pairwise(follower_series(world, "x", 0))]
    assert len(set(steps)) > len(steps) // 2, steps


def test_a_posts_metrics_never_decrease_and_grow_by_different_amounts_each_day() -> None:
    world = World(clock=lambda: FROZEN_NOW)
    for platform in PLATFORMS:
        account = world.accounts(platform)[0]
        post = world.posts_on_day(platform, account.account_id, WEEK[0])[0]
        hours = [post.created_at + timedelta(hours=h) for h in range(0, 24 * 30, 5)]
        seen = [world.metrics(post, at) for at in hours]
        for before, after in pairwise(seen):
            assert all(after[k] >= before[k] for k in before), (platform, before, after)
        daily = [world.metrics(post, morning(day))["views"] for day in WEEK[1:]]
        increments = [b - a for a, b in pairwise(daily)]
        assert all(i > 0 for i in increments), (platform, daily)
        assert len(set(increments)) > len(increments) // 2, (platform, increments)


def test_the_world_is_the_same_for_a_seed_and_different_for_another() -> None:
    def snapshot(seed: int) -> tuple:
        world = World(seed=seed, clock=lambda: FROZEN_NOW)
        account = world.accounts("youtube")[1]
        posts = world.posts_on_day("youtube", account.account_id, WEEK[3])
        return (
            follower_series(world, "youtube", 1),
            [world.metrics(p, morning(day)) for p in posts for day in WEEK[4:]],
        )

    assert snapshot(7) == snapshot(7)
    assert snapshot(7) != snapshot(8)


def test_consecutive_days_plot_different_follower_counts_per_platform(
    deployment: Deployment,
) -> None:
    """`followers_<platform>` on follower_snapshots: what the asset's Plots tab draws."""
    d = deployment
    seen = {}
    for day in WEEK[-2:]:
        d.clock.morning_after(day)
        assert d.materialize(day).success
        event = d.instance.get_latest_materialization_event(dg.AssetKey("follower_snapshots"))
        meta = event.asset_materialization.metadata
        seen[day] = {p: meta[f"followers_{p}"].value for p in PLATFORMS}
    before, after = seen.values()
    assert all(before[p] != after[p] for p in PLATFORMS), seen


def test_a_backfill_on_the_built_in_sandbox_sees_each_days_followers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The built-in sandbox (no accounts file): each step's emulator sees the world as of
    # the morning after its partition day, so a backfill's days differ as daily runs do.
    monkeypatch.delenv("SOCIAL_PIPELINE_ACCOUNTS", raising=False)
    monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    defs = load_definitions()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (3, 2)]
    with dg.instance_for_test() as instance:
        for day in days:
            result = dg.materialize(
                list(defs.assets or []),
                instance=instance,
                partition_key=day.isoformat(),
                selection=dg.AssetSelection.assets("raw_x").downstream(),
                resources=dict(defs.resources or {}),
            )
            assert result.success
    world = World(accounts_per_platform=2)
    rows = query(
        tmp_path / "data",
        "SELECT snapshot_date, account_id, followers FROM follower_snapshots "
        "WHERE platform = 'x' ORDER BY snapshot_date, account_id",
    )
    assert rows.height == 4
    for day, account_id, followers in rows.iter_rows():
        account = world.account("x", account_id)
        assert account is not None
        assert followers == world.followers(account, morning(day + timedelta(days=1)))["followers"]
    by_account = rows.group_by("account_id").agg(pl.col("followers").n_unique())
    assert by_account["followers"].to_list() == [2, 2]
