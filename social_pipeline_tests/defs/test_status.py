"""Honest status in Dagster: counts of successes, tagged runs, a per-account table, and a
run that collected nothing ends failed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from social_pipeline.app.cli import main as cli
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.defs.jobs import keys_for_platform
from social_pipeline.operations.run_status import STATUS_COLUMNS
from social_pipeline_tests.defs.test_checks import evaluations
from social_pipeline_tests.helpers import Deployment, revoke_accounts

DAY = date(2026, 11, 19)


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def messages(d: Deployment, run_id: str) -> list[str]:
    return [e.user_message for e in d.instance.all_logs(run_id)]


def test_a_run_that_lost_an_account_is_tagged_and_its_table_says_why(
    deployment: Deployment,
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    [victim] = revoke_accounts(d, "facebook", slice(0, 1))

    result = d.materialize(DAY)

    assert result.success  # the other eleven accounts landed and were normalized
    tags = d.instance.get_run_by_id(result.run_id).tags
    assert tags["social_pipeline/failed_accounts"] == "1"
    assert tags["social_pipeline/failed_facebook"] == "1"
    assert "social_pipeline/failed_x" not in tags

    meta = materializations(result)["raw_facebook"]
    table = meta["accounts"]
    assert [c.name for c in table.schema.columns] == list(STATUS_COLUMNS)
    rows = {r.data["account_id"]: r.data for r in table.records}
    assert rows[victim]["status"] == "failed" and rows[victim]["error_class"] == "auth"
    assert rows[victim]["posts"] == 0 and victim in rows[victim]["error"]
    [other] = set(rows) - {victim}
    assert rows[other]["status"] == "success" and rows[other]["posts"] > 0
    assert rows[other]["error"] == "" and rows[other]["api_calls"] > 0
    assert (meta["accounts_ok"].value, meta["accounts_failed"].value) == (1, 1)

    # Counts report successes: the progress line no longer says "2/2 accounts collected".
    logged = messages(d, result.run_id)
    assert "facebook: 2/2 accounts done, 1 collected, 1 failed" in logged
    assert "x: 2/2 accounts done, 2 collected, 0 failed" in logged

    check = evaluations(result)["raw_facebook:every_account_collected"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert all(t not in str(meta) + "\n".join(logged) for t in d.tokens.values())


def test_a_run_that_collected_no_account_fails_and_says_so(deployment: Deployment) -> None:
    """A one-platform run (a retry, a replay, `collect --platform`) whose accounts all fail."""
    d = deployment
    d.clock.morning_after(DAY)
    revoke_accounts(d, "x")

    result = d.materialize(DAY, selection=dg.AssetSelection.assets(*keys_for_platform("x")))

    assert not result.success
    tags = d.instance.get_run_by_id(result.run_id).tags
    assert tags["social_pipeline/failed_accounts"] == "2"
    # The raw asset still recorded its table and an ERROR check; normalized refused.
    assert materializations(result)["raw_x"]["accounts_ok"].value == 0
    check = evaluations(result)["raw_x:every_account_collected"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "normalized"
    assert "none of the 2 accounts this run tried was collected" in str(failure.event_specific_data)


def test_a_full_day_whose_every_account_failed_fails(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    for platform in PLATFORMS:
        revoke_accounts(d, platform)

    result = d.materialize(DAY)

    assert not result.success
    assert d.instance.get_run_by_id(result.run_id).tags["social_pipeline/failed_accounts"] == "12"
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "none of the 12 accounts this run tried was collected" in str(
        failure.event_specific_data
    )


def test_one_dead_platform_never_holds_back_the_others(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    revoke_accounts(d, "linkedin")

    result = d.materialize(DAY)

    assert result.success  # partial: tagged and a failed check, not a failed run
    assert d.instance.get_run_by_id(result.run_id).tags["social_pipeline/failed_accounts"] == "2"
    check = evaluations(result)["raw_linkedin:every_account_collected"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    platforms = d.table("SELECT DISTINCT platform FROM social_posts ORDER BY 1")["platform"]
    assert sorted(platforms) == sorted(p for p in PLATFORMS if p != "linkedin")


def test_a_raw_asset_run_alone_fails_when_it_collected_nothing(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    revoke_accounts(d, "tiktok")

    result = d.materialize(DAY, selection="raw_tiktok")

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "raw_tiktok"
    assert "tiktok: none of 2 accounts was collected" in str(failure.event_specific_data)
    # Its table and checks were recorded before the step failed: the UI still says why.
    assert materializations(result)["raw_tiktok"]["accounts_failed"].value == 2
    checks = evaluations(result)
    assert not checks["raw_tiktok:every_account_collected"].passed
    assert "raw_tiktok:credentials_current" in checks
    # Not retried by the step's retry policy: that is for crashes, not API errors.
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_followers_are_reported_per_platform_not_summed(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    meta = materializations(d.materialize(DAY))["follower_snapshots"]
    assert "followers_total" not in meta
    expected = d.table(
        "SELECT platform, sum(followers) AS n FROM follower_snapshots GROUP BY platform"
    )
    assert {f"followers_{p}": n for p, n in expected.rows()} == {
        k: v.value for k, v in meta.items() if k.startswith("followers_")
    }
    assert len(expected) == len(PLATFORMS)


def test_passing_checks_carry_no_markdown(deployment: Deployment) -> None:
    """The UI shows markdown as a "[Show Markdown]" link; a passing check needs none."""
    d = deployment
    d.clock.morning_after(DAY)
    checks = evaluations(d.materialize(DAY))
    passing = {name: c for name, c in checks.items() if c.passed}
    assert len(passing) >= 6 * 2 + 3  # every raw asset's collected/credentials, the data rules
    for name, check in passing.items():
        for key, value in check.metadata.items():
            assert not isinstance(value, dg.MarkdownMetadataValue), f"{name}: {key}"


def test_cli_runs_are_the_named_job_and_carry_the_failure_tag(
    deployment: Deployment,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    [victim] = revoke_accounts(d, "youtube", slice(1, 2))

    assert cli(["collect", "--date", DAY.isoformat(), "--platform", "youtube"]) == 3
    capsys.readouterr()

    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.job_name == "collect_day"
        assert run.tags["social_pipeline/failed_accounts"] == "1"
        assert run.tags["dagster/partition"] == DAY.isoformat()
        warehouse = dg.AssetKey(["warehouse", "social_posts"])
        assert instance.get_latest_materialization_event(warehouse).run_id == run.run_id
    posts = d.table("SELECT DISTINCT account_id FROM social_posts WHERE platform = 'youtube'")
    assert posts["account_id"].to_list() != [] and victim not in posts["account_id"].to_list()
