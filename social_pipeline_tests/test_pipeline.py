"""A user's deployment end to end: accounts file, emulator as the APIs, Dagster materializing."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date

import dagster as dg
import polars as pl
import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.window import CollectionWindow
from social_pipeline.sandbox.server import Fault
from social_pipeline.storage.warehouse_sql import TABLES as WAREHOUSE_TABLES
from social_pipeline_tests.helpers import Deployment, files_containing, revoke_accounts

DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
TABLES = [t.name for t in WAREHOUSE_TABLES]  # every table the lake feeds
READ_TIMES = ("collected_at", "observed_at", "reset_at", "started_at", "finished_at")


def served(d: Deployment, day: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the emulator serves for `day` at its current clock: posts+metrics, followers."""
    window = CollectionWindow(day)
    posts, followers = [], []
    for platform in PLATFORMS:
        for account in d.sandbox.world.accounts(platform):
            counts = d.sandbox.world.followers(account)
            followers.append(
                {
                    "platform": platform,
                    "account_id": account.account_id,
                    "followers": counts["followers"],
                }
            )
            for post in d.sandbox.world.posts_between(
                platform, account.account_id, window.start, window.end
            ):
                m = d.sandbox.world.metrics(post)
                posts.append(
                    {
                        "platform": platform,
                        "post_id": post.post_id,
                        "w_likes": m["likes"],
                        "w_comments": m["comments"],
                    }
                )
    return pl.DataFrame(posts), pl.DataFrame(followers)


def snapshot(d: Deployment, drop_read_times: bool = False) -> dict[str, pl.DataFrame]:
    frames = {t: d.table(f'SELECT * FROM "{t}"') for t in TABLES}
    if drop_read_times:
        frames = {t: f.drop([c for c in READ_TIMES if c in f.columns]) for t, f in frames.items()}
        # Re-collecting spends quota: the latest window really moved, and each attempt is a job.
        frames.pop("data_collection_jobs")
        frames.pop("api_rate_limits")
    return frames


def test_two_days_land_every_served_post_once_with_the_served_numbers(
    deployment: Deployment,
) -> None:
    d = deployment
    d.clock.morning_after(DAY1)
    posts1, followers1 = served(d, DAY1)
    assert d.materialize(DAY1).success

    d.clock.morning_after(DAY2)
    posts2, followers2 = served(d, DAY2)
    assert d.materialize(DAY2).success

    # Every post served inside either window is in social_posts exactly once.
    stored = d.table("SELECT platform, post_id FROM social_posts")
    assert stored.height == stored.unique().height
    expected_ids = pl.concat([posts1, posts2]).select("platform", "post_id").unique()
    assert sorted(stored.rows()) == sorted(expected_ids.rows())
    assert set(stored["platform"]) == set(PLATFORMS)

    # Day one's snapshots hold day one's numbers, read at day one's clock.
    snap1 = d.table(
        f"SELECT platform, post_id, likes, comments FROM engagement_snapshots WHERE snapshot_date = DATE '{DAY1}'"
    )
    joined = posts1.join(snap1, on=["platform", "post_id"], how="left")
    assert joined.height == posts1.height == snap1.height
    reported = joined.filter(pl.col("likes").is_not_null())
    assert reported.height >= 0.9 * joined.height
    assert (reported["likes"] == reported["w_likes"]).all()
    commented = joined.filter(pl.col("comments").is_not_null())
    assert (commented["comments"] == commented["w_comments"]).all()

    fol1 = d.table(
        f"SELECT platform, account_id, followers FROM follower_snapshots WHERE snapshot_date = DATE '{DAY1}'"
    )
    assert sorted(fol1.rows()) == sorted(followers1.rows())
    # Current-state tables hold day two.
    current = d.table("SELECT platform, account_id, followers, snapshot_date FROM follower_metrics")
    assert set(current["snapshot_date"]) == {DAY2}
    assert sorted(current.drop("snapshot_date").rows()) == sorted(followers2.rows())
    latest = d.table("SELECT platform, post_id, likes FROM post_engagement_metrics")
    day2_latest = posts2.join(latest, on=["platform", "post_id"])
    assert day2_latest.height == posts2.height
    assert (
        day2_latest.filter(pl.col("likes").is_not_null()).select(
            (pl.col("likes") == pl.col("w_likes")).all()
        )
    ).item()

    # Jobs: one success per account per day; rate-limit windows where platforms report them.
    jobs = d.table("SELECT partition_date, status, api_calls FROM data_collection_jobs")
    assert jobs.height == 2 * 12 and set(jobs["status"]) == {"success"}
    assert (jobs["api_calls"] > 0).all()
    limits = d.table("SELECT platform, endpoint, quota_limit, remaining FROM api_rate_limits")
    assert "x" in set(limits["platform"])


def test_rerunning_a_day_leaves_every_table_identical(deployment: Deployment) -> None:
    d = deployment
    for day in (DAY1, DAY2):
        d.clock.morning_after(day)
        assert d.materialize(day).success
    before = snapshot(d)

    # Re-running day one downstream of the raw landing: byte-for-byte the same tables.
    downstream = dg.AssetSelection.assets("posts").required_multi_asset_neighbors().downstream()
    assert d.materialize(DAY1, selection=downstream).success
    after = snapshot(d)
    for table in TABLES:
        assert after[table].equals(before[table]), table

    # Re-collecting day one from the APIs, with the platforms serving what they served
    # then: same rows and numbers; only read times move, and each account's new attempt is
    # one more job row.
    d.clock.morning_after(DAY1)
    assert d.materialize(DAY1).success
    recollected = snapshot(d, drop_read_times=True)
    stable = {
        t: f.drop([c for c in READ_TIMES if c in f.columns])
        for t, f in before.items()
        if t in recollected
    }
    for table, frame in stable.items():
        assert recollected[table].equals(frame), table
    jobs = d.table("SELECT partition_date, account_id, attempt, status FROM data_collection_jobs")
    assert jobs.height == 3 * 12
    assert (
        sorted(jobs.filter(pl.col("partition_date") == DAY1)["attempt"].to_list())
        == [1] * 12 + [2] * 12
    )
    limits = d.table("SELECT platform, endpoint, scope, account_id FROM api_rate_limits")
    assert limits.height == limits.unique().height == before["api_rate_limits"].height


@pytest.mark.parametrize("platform", ["x", "youtube"])
def test_a_revoked_token_fails_its_own_account_only_and_never_leaks(
    deployment: Deployment, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    d = deployment
    d.clock.morning_after(DAY1)
    [victim] = revoke_accounts(d, platform, slice(0, 1))

    result = d.materialize(DAY1)

    assert result.success  # the day goes on
    meta = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta[f"raw_{platform}"]["accounts_failed"].value == 1
    assert meta[f"raw_{platform}"]["accounts_ok"].value == 1
    jobs = d.table("SELECT platform, account_id, status, error FROM data_collection_jobs")
    failed = jobs.filter(pl.col("status") != "success")
    assert failed.rows() == [(platform, victim, "failed", failed["error"][0])]
    error = failed["error"][0]
    assert f"{platform} account {victim}" in error and "auth" in error
    posts = d.table("SELECT DISTINCT platform, account_id FROM social_posts")
    assert posts.height == 11 and (platform, victim) not in posts.rows()

    secrets = list(d.tokens.values())
    assert files_containing(d.data_dir, secrets) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    events = "\n".join(str(e) for e in d.instance.all_logs(result.run_id))
    for secret in secrets:
        assert secret not in logged and secret not in events


def test_a_page_that_is_not_json_is_quarantined_and_the_rest_of_the_day_is_kept(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY1)
    victim = d.sandbox.world.accounts("linkedin")[1].account_id
    # Every retry of this account's share-statistics call (after its posts were listed)
    # gets an HTML error page instead of JSON.
    token = d.tokens[("linkedin", victim)]
    stats = "organizationalEntityShareStatistics"
    d.sandbox.inject(
        Fault("malformed", platform="linkedin", path_contains=stats, token=token, times=5)
    )

    assert d.materialize(DAY1).success

    jobs = d.table(
        "SELECT account_id, status, error_class FROM data_collection_jobs WHERE status <> 'success'"
    )
    assert jobs.rows() == [(victim, "partial", "malformed_response")]
    quarantined = d.table(
        "SELECT platform, account_id, kind, reason, record FROM quarantined_records"
    )
    assert quarantined.height == 1
    row = quarantined.row(0, named=True)
    assert (row["platform"], row["account_id"], row["kind"]) == ("linkedin", victim, "page")
    assert "not usable JSON" in row["reason"] and "502 Bad Gateway" in row["record"]
    # The profile and the posts collected before the bad page are kept.
    kept = d.table(f"SELECT count(*) AS n FROM social_posts WHERE account_id = '{victim}'")
    assert kept["n"][0] == 56
    followers = d.table(f"SELECT followers FROM follower_snapshots WHERE account_id = '{victim}'")
    assert followers.height == 1


def test_an_analyst_holding_the_warehouse_open_never_blocks_a_run(deployment: Deployment) -> None:
    """A read-only session in another process, open across a whole materialization."""
    d = deployment
    d.clock.morning_after(DAY1)
    assert d.materialize(DAY1).success
    analyst = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(d.data_dir / 'warehouse.duckdb')!r}, read_only=True)\n"
            "q = 'SELECT count(DISTINCT snapshot_date) FROM follower_snapshots'\n"
            "print(con.sql(q).fetchall()[0][0], flush=True)\n"
            "sys.stdin.readline()  # hold the file open until the run is done\n"
            "print(con.sql(q).fetchall()[0][0], flush=True)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert analyst.stdout is not None and analyst.stdin is not None
    assert analyst.stdout.readline().strip() == "1"  # the session is open

    d.clock.morning_after(DAY2)
    started = time.monotonic()
    result = d.materialize(DAY2)
    assert result.success and time.monotonic() - started < 60

    analyst.stdin.write("\n")
    analyst.stdin.flush()
    assert analyst.stdout.readline().strip() == "1"  # the analyst's consistent old copy
    assert analyst.wait(timeout=30) == 0
    days = d.table("SELECT count(DISTINCT snapshot_date) AS n FROM follower_snapshots")
    assert days["n"][0] == 2  # new sessions see the new day
