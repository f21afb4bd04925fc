"""Schedules and sensors evaluated for real: new accounts, retries, dead letters, replay."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest
import yaml

from social_pipeline.app.cli import main as cli
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.sandbox.server import Fault
from social_pipeline.storage.dead_letters import all_dead_letters
from social_pipeline_tests.helpers import Deployment, revoke_accounts

TODAY = datetime.now(UTC).date()
defs = load_definitions()


def evaluate(d: Deployment, name: str, cursor: str | None = None):  # noqa: ANN201
    sensor = defs.resolve_sensor_def(name)
    context = dg.build_sensor_context(
        instance=d.instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    return sensor.evaluate_tick(context)


def run_request(d: Deployment, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute a sensor's RunRequest the way the daemon would: its partition, assets, config."""
    return d.materialize(
        date.fromisoformat(request.partition_key),
        selection=dg.AssetSelection.assets(*request.asset_selection),
        run_config=request.run_config,
    )


def test_daily_schedule_finalizes_yesterday_and_hourly_refreshes_today() -> None:
    moment = datetime(2026, 11, 21, 0, 15, tzinfo=UTC)
    daily = defs.resolve_schedule_def("daily_finalize")
    [request] = daily.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=moment, repository_def=defs.get_repository_def()
        )
    ).run_requests
    assert request.partition_key == "2026-11-20" and request.run_key == "daily:2026-11-20"
    assert daily.default_status == dg.DefaultScheduleStatus.RUNNING

    hourly = defs.resolve_schedule_def("hourly_refresh")
    later = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
    [request] = hourly.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=later, repository_def=defs.get_repository_def()
        )
    ).run_requests
    assert request.partition_key == "2026-11-21" and request.run_key == "hourly:2026-11-21:14"


def test_a_fresh_install_gets_one_first_collection_not_one_per_account(
    deployment: Deployment,
) -> None:
    [request] = evaluate(deployment, "new_accounts").run_requests
    assert request.run_key == f"new:all:{TODAY}" and request.partition_key == TODAY.isoformat()
    assert not request.asset_selection and not request.run_config


def test_a_new_account_gets_its_first_collection_and_a_removed_one_keeps_its_history(
    deployment: Deployment,
) -> None:
    d = deployment
    d.clock.now = datetime.now(UTC)
    accounts_file = d.data_dir.parent / "accounts.yaml"
    doc = yaml.safe_load(accounts_file.read_text())
    newcomer = doc["accounts"].pop()  # start without the last account (a tiktok one)
    accounts_file.write_text(yaml.safe_dump(doc))
    assert d.materialize(TODAY).success

    first = evaluate(d, "new_accounts")
    assert first.run_requests == [] and first.skip_message

    doc["accounts"].append(newcomer)
    accounts_file.write_text(yaml.safe_dump(doc))
    tick = evaluate(d, "new_accounts", first.cursor)
    [request] = tick.run_requests
    assert request.partition_key == TODAY.isoformat()
    assert request.run_key == f"new:tiktok:{newcomer['account_id']}:{TODAY}"
    assert request.run_config == {
        "ops": {"raw_tiktok": {"config": {"accounts": [newcomer["account_id"]]}}}
    }
    assert run_request(d, request).success
    tiktok = d.table("SELECT DISTINCT account_id FROM follower_snapshots WHERE platform = 'tiktok'")
    assert newcomer["account_id"] in tiktok["account_id"].to_list()
    assert evaluate(d, "new_accounts", tick.cursor).run_requests == []

    # Removing an account: nothing more is requested for it, and its history stays.
    removed = doc["accounts"].pop(0)
    accounts_file.write_text(yaml.safe_dump(doc))
    assert evaluate(d, "new_accounts", tick.cursor).run_requests == []
    assert d.materialize(TODAY).success
    kept = d.table(
        f"SELECT count(*) AS n FROM social_posts WHERE account_id = '{removed['account_id']}'"
    )
    assert kept["n"][0] > 0
    jobs = d.table(
        f"SELECT count(*) AS n FROM data_collection_jobs WHERE account_id = '{removed['account_id']}'"
    )
    assert jobs["n"][0] == 1  # collected once, before it was removed


def test_a_rate_limited_account_is_retried_after_its_reset_and_not_before(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.now = datetime.now(UTC)
    monkeypatch.setenv("SOCIAL_PIPELINE_MAX_RATE_LIMIT_WAIT", "0.5")  # longer waits are raised
    monkeypatch.setenv("SOCIAL_PIPELINE_RETRY_BACKOFF_SECONDS", "0")
    victim = d.sandbox.world.accounts("x")[1].account_id
    d.sandbox.inject(Fault("rate_limit", platform="x", path_contains=victim, times=1, reset_in=3))
    assert d.materialize(TODAY).success
    failed = d.table(
        "SELECT account_id, error_class, reset_at FROM data_collection_jobs WHERE status <> 'success'"
    )
    assert failed.rows()[0][:2] == (victim, "rate_limited")
    reset_at = failed["reset_at"][0]

    early = evaluate(d, "retry_failed_collections")
    assert datetime.now(UTC) < reset_at
    assert early.run_requests == []

    time.sleep(max(0.0, (reset_at - datetime.now(UTC)).total_seconds()) + 0.2)
    [request] = evaluate(d, "retry_failed_collections").run_requests
    assert request.run_key == f"retry:x:{TODAY}:{victim}:2"
    assert request.run_config == {"ops": {"raw_x": {"config": {"accounts": [victim]}}}}
    assert run_request(d, request).success
    latest = d.table(
        f"SELECT status, attempt FROM data_collection_jobs WHERE account_id = '{victim}' ORDER BY started_at"
    )
    assert latest.rows() == [("failed", 1), ("success", 2)]
    assert evaluate(d, "retry_failed_collections").run_requests == []


def test_a_collection_failing_past_the_limit_becomes_a_dead_letter_and_replay_collects_it(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    capsys,  # noqa: ANN001
) -> None:
    d = deployment
    d.clock.now = datetime.now(UTC)
    monkeypatch.setenv("SOCIAL_PIPELINE_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("SOCIAL_PIPELINE_RETRY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    [victim] = revoke_accounts(d, "linkedin", slice(0, 1))
    token = d.tokens[("linkedin", victim)]
    assert d.materialize(TODAY).success

    [retry] = evaluate(d, "retry_failed_collections").run_requests
    assert retry.run_key == f"retry:linkedin:{TODAY}:{victim}:2"
    # Attempt 2 fails again (the token is still revoked): a run that collected nothing fails.
    assert not run_request(d, retry).success

    tick = evaluate(d, "retry_failed_collections")
    assert tick.run_requests == []
    [letter] = all_dead_letters(d.data_dir)
    assert (letter["platform"], letter["account_id"], letter["attempts"], letter["status"]) == (
        "linkedin",
        victim,
        2,
        "open",
    )
    assert letter["error_class"] == "auth" and token not in str(letter)

    assert cli(["dead-letters", "--format", "json"]) == 0
    assert victim in capsys.readouterr().out

    d.sandbox.revoked.discard(token)  # the user re-authorized the app
    assert cli(["replay", "--platform", "linkedin"]) == 0
    assert [x["status"] for x in all_dead_letters(d.data_dir)] == ["resolved"]
    letters = d.table("SELECT platform, account_id, status FROM dead_letters")
    assert letters.rows() == [("linkedin", victim, "resolved")]
    posts = d.table(f"SELECT count(*) AS n FROM social_posts WHERE account_id = '{victim}'")
    assert posts["n"][0] > 0
    with dg.DagsterInstance.get() as home:
        [replay] = [r for r in home.get_runs() if r.tags.get("reason") == "replay"]
        assert replay.is_success and replay.tags.get("dagster/partition") == str(TODAY)
        # The replay went through the graph: the raw asset and the warehouse materialized.
        for key in (dg.AssetKey("raw_linkedin"), dg.AssetKey(["warehouse", "social_posts"])):
            assert home.get_latest_materialization_event(key).run_id == replay.run_id
    assert pl.DataFrame(all_dead_letters(d.data_dir)).height == 1


def test_the_ui_replay_job_hands_the_dead_letters_to_the_replay_sensor(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.now = datetime.now(UTC)
    monkeypatch.setenv("SOCIAL_PIPELINE_MAX_ATTEMPTS", "1")
    [victim] = revoke_accounts(d, "x", slice(1, 2))
    token = d.tokens[("x", victim)]
    assert d.materialize(TODAY).success
    assert evaluate(d, "retry_failed_collections").run_requests == []  # straight to a letter
    assert [x["status"] for x in all_dead_letters(d.data_dir)] == ["open"]
    assert evaluate(d, "replay_dead_letters").run_requests == []  # nothing requested yet

    d.sandbox.revoked.discard(token)
    job = defs.resolve_job_def("replay_dead_letters_job")
    result = job.execute_in_process(
        instance=d.instance,
        resources=dict(defs.resources or {}),
        run_config={"ops": {"request_dead_letter_replay": {"config": {"platform": "x"}}}},
    )
    assert result.success
    [request] = evaluate(d, "replay_dead_letters").run_requests
    assert request.partition_key == str(TODAY) and request.tags["reason"] == "replay"
    assert set(request.asset_selection) >= {dg.AssetKey("raw_x"), dg.AssetKey("posts")}
    assert request.run_config == {"ops": {"raw_x": {"config": {"accounts": [victim]}}}}
    assert evaluate(d, "replay_dead_letters").run_requests == []  # launched once
    assert run_request(d, request).success
    assert [x["status"] for x in all_dead_letters(d.data_dir)] == ["resolved"]
