"""Notifications: failed collections, failed runs and new dead letters reach a webhook
(a loopback receiver here), carry no secret, and a broken webhook never fails a run."""

from __future__ import annotations

import logging
import socket
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from social_pipeline.core.settings import Account, Settings
from social_pipeline.definitions import defs as load_definitions
from social_pipeline.defs.jobs import keys_for_platform
from social_pipeline.operations.notify import failed_accounts_text, notify, post_message
from social_pipeline_tests.helpers import Deployment, revoke_accounts
from social_pipeline_tests.webhook_receiver import webhook_receiver

DAY = date(2026, 11, 19)
WEBHOOK_ENV = "SOCIAL_PIPELINE_WEBHOOK_URL"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there any more


def test_a_message_is_posted_as_slack_json() -> None:
    with webhook_receiver() as hook:
        assert post_message(hook.url, "hello *team*")
    assert hook.payloads == [{"text": "hello *team*"}]
    assert hook.content_types == ["application/json"]


@pytest.mark.parametrize("broken", ["refused", "http_500"])
def test_a_broken_webhook_is_a_warning_not_an_error(
    broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with webhook_receiver() as hook:
        hook.status = 500
        url = hook.url if broken == "http_500" else closed_port_url()
        assert post_message(url, "hello", timeout=2) is False
    [record] = [r for r in caplog.records if "webhook" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert url not in record.getMessage()  # a webhook URL is a secret too


def test_messages_are_redacted_with_the_tokens_the_accounts_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_X_TOKEN", "AAAAtokenvalue0123456789")
    with webhook_receiver() as hook:
        settings = Settings(
            accounts=(Account("x", "42", "Ours", "MY_X_TOKEN"),),
            data_dir=tmp_path,
            base_urls={},
            webhook_url=hook.url,
        )
        job = {
            "account_id": "42",
            "status": "failed",
            "error_class": "auth",
            "error": "rejected AAAAtokenvalue0123456789 and Bearer abc.def",
        }
        assert notify(settings, failed_accounts_text("x", "2026-11-19", [job]))
    [text] = hook.texts
    assert "AAAAtokenvalue0123456789" not in text and "abc.def" not in text
    assert "x 2026-11-19: 1 of 1 accounts failed" in text and "• 42: auth: rejected" in text


def test_no_webhook_configured_posts_nothing(tmp_path: Path) -> None:
    assert notify(Settings(accounts=(), data_dir=tmp_path, base_urls={}), "hi") is False


def test_a_day_with_failed_accounts_is_posted_without_any_token(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    [victim] = revoke_accounts(d, "instagram", slice(0, 1))
    with webhook_receiver() as hook:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url)
        result = d.materialize(DAY)
    assert result.success
    [text] = hook.texts  # one message: only Instagram lost an account
    assert f"instagram {DAY}: 1 of 2 accounts failed (run {result.run_id})" in text
    assert f"• {victim}: auth:" in text
    body = b"".join(hook.bodies).decode()
    assert all(token not in body for token in d.tokens.values())


def test_a_webhook_that_is_down_never_fails_the_collection(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    revoke_accounts(d, "x", slice(0, 1))
    monkeypatch.setenv(WEBHOOK_ENV, closed_port_url())
    result = d.materialize(DAY, selection=dg.AssetSelection.assets(*keys_for_platform("x")))
    assert result.success
    warnings = [e.user_message for e in d.instance.all_logs(result.run_id)]
    assert d.table("SELECT count(*) AS n FROM social_posts")["n"][0] > 0
    assert any("x: 2/2 accounts done, 1 collected, 1 failed" in m for m in warnings)


def test_a_failed_run_is_posted_by_the_run_failure_sensor(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    revoke_accounts(d, "tiktok")
    result = d.materialize(DAY, selection=dg.AssetSelection.assets(*keys_for_platform("tiktok")))
    assert not result.success
    [failure] = d.instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)

    defs = load_definitions()
    sensor = defs.resolve_sensor_def("notify_failed_runs")
    with webhook_receiver() as hook:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=failure.dagster_event,
            dagster_instance=d.instance,
            dagster_run=d.instance.get_run_by_id(result.run_id),
            resources=dict(defs.resources or {}),
        ).for_run_failure()
        sensor(context)
    [text] = hook.texts
    assert f"run {result.run_id}" in text and f"for {DAY}" in text
    assert "normalized: none of the 2 accounts this run tried was collected" in text
    assert all(token not in text for token in d.tokens.values())
