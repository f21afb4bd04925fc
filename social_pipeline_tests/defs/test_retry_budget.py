"""The retry budget counts failed attempts since the last success, not every run of the day:
with the hourly refresh on, a day succeeds many times, and its first failure is retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from social_pipeline.defs.jobs import keys_for_platform
from social_pipeline.operations.retries import account_days
from social_pipeline.storage.dead_letters import all_dead_letters
from social_pipeline_tests.defs.test_operations import TODAY, evaluate, run_request
from social_pipeline_tests.helpers import Deployment
from social_pipeline_tests.webhook_receiver import webhook_receiver


def hourly_refresh(d: Deployment) -> dg.ExecuteInProcessResult:
    """What `hourly_refresh` runs for today, narrowed to X to keep the test quick."""
    return d.materialize(TODAY, selection=dg.AssetSelection.assets(*keys_for_platform("x")))


def test_a_failure_after_three_hourly_successes_is_retried_not_dead_lettered(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.now = datetime.now(UTC)
    monkeypatch.setenv("SOCIAL_PIPELINE_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("SOCIAL_PIPELINE_RETRY_BACKOFF_SECONDS", "0")
    victim = d.sandbox.world.accounts("x")[1].account_id
    token = d.tokens[("x", victim)]
    with webhook_receiver() as hook:
        monkeypatch.setenv("SOCIAL_PIPELINE_WEBHOOK_URL", hook.url)
        for _ in range(3):
            assert hourly_refresh(d).success
        d.sandbox.revoke(token)
        assert hourly_refresh(d).success  # partial: the other X account landed

        # Four attempts of the day, one failure since the last success: retry it.
        [retry] = evaluate(d, "retry_failed_collections").run_requests
        assert retry.run_key == f"retry:x:{TODAY}:{victim}:5"
        assert retry.tags["attempt"] == "5"
        assert all_dead_letters(d.data_dir) == []

        # The retry fails too: two failures in a row reach the limit of 2.
        assert not run_request(d, retry).success
        assert evaluate(d, "retry_failed_collections").run_requests == []
        [letter] = all_dead_letters(d.data_dir)
        assert (letter["account_id"], letter["attempts"], letter["status"]) == (victim, 2, "open")
        [notice] = [t for t in hook.texts if "dead letter" in t]
        assert victim in notice and "after 2 failed attempts" in notice
        assert "social-pipeline replay" in notice

        # The next tick does not post the same letter again.
        assert evaluate(d, "retry_failed_collections").run_requests == []
        assert len([t for t in hook.texts if "dead letter" in t]) == 1

        # Re-authorized: the next hourly run succeeds and resolves the letter; a later
        # failure starts a fresh budget and is retried again.
        d.sandbox.revoked.discard(token)
        assert hourly_refresh(d).success
        assert [x["status"] for x in all_dead_letters(d.data_dir)] == ["resolved"]
        assert evaluate(d, "retry_failed_collections").run_requests == []
        d.sandbox.revoke(token)
        assert hourly_refresh(d).success
        [again] = evaluate(d, "retry_failed_collections").run_requests
        assert again.run_key == f"retry:x:{TODAY}:{victim}:8"
        assert all(t not in "\n".join(hook.texts) for t in d.tokens.values())


def test_only_consecutive_failures_count_toward_the_budget() -> None:
    start = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)

    def job(hour: int, status: str) -> dict:
        at = (start + timedelta(hours=hour)).isoformat()
        return {"account_id": "a", "status": status, "started_at": at, "finished_at": at}

    history = [job(0, "success"), job(1, "failed"), job(2, "success"), job(3, "success")]
    history += [job(4, "failed"), job(5, "partial")]
    [(account, state)] = account_days(reversed(history)).items()
    assert (account, state.attempts, state.failures) == ("a", 6, 2)
    assert state.latest["started_at"] == history[-1]["started_at"]
    [(_, never)] = account_days([job(0, "failed"), job(1, "failed")]).items()
    assert never.failures == 2
