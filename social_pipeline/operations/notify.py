"""Telling people: failed collections, failed runs and new dead letters, posted to a webhook.

The webhook is a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Teams
workflows, Discord's `/slack` endpoint): a POST of `{"text": ...}`. It is named by
SOCIAL_PIPELINE_WEBHOOK_URL; unset, nothing is posted. A webhook that is down never fails
a collection: the failure is logged as a warning and the run goes on.

Messages are built from job records and dead letters, whose errors were redacted when
written; they pass through the Redactor again, with the tokens this process can read, so
a token never reaches a chat channel even if a record missed one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import requests

from social_pipeline.clients.redaction import Redactor
from social_pipeline.core.settings import Settings
from social_pipeline.storage.dead_letters import DeadLetter

log = logging.getLogger("social_pipeline.operations.notify")

TIMEOUT_SECONDS = 10.0
MAX_LINES = 20  # accounts listed per message; the rest are counted


def post_message(url: str, text: str, *, timeout: float = TIMEOUT_SECONDS) -> bool:
    """POST `{"text": text}` to the webhook. False (and a warning) when it did not take it."""
    try:
        response = requests.post(url, json={"text": text}, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        # The URL is itself a secret (Slack's carries the key): name the failure, not the URL.
        status = getattr(getattr(exc, "response", None), "status_code", None)
        log.warning(
            "webhook notification not delivered (%s%s)",
            type(exc).__name__,
            f", HTTP {status}" if status else "",
        )
        return False
    return True


def notify(settings: Settings, text: str) -> bool:
    """Post `text`, redacted, to SOCIAL_PIPELINE_WEBHOOK_URL; False when unset or refused."""
    if not settings.webhook_url:
        return False
    return post_message(settings.webhook_url, settings_redactor(settings).text(text))


def settings_redactor(settings: Settings) -> Redactor:
    """A Redactor that knows every token and app secret the accounts file names."""
    names = {a.token_env for a in settings.accounts}
    names |= {a.refresh_token_env for a in settings.accounts}
    names |= {app.client_secret_env for app in settings.apps.values()}
    return Redactor(settings.secret(name) for name in names - {""})


def failed_accounts_text(
    platform: str, day: str, jobs: list[dict[str, Any]], run_id: str | None = None
) -> str:
    """`x 2026-11-20: 1 of 2 accounts failed` and one line per failed account."""
    failed = [j for j in jobs if j["status"] != "success"]
    where = f" (run {run_id})" if run_id else ""
    head = f":warning: {platform} {day}: {len(failed)} of {len(jobs)} accounts failed{where}"
    return "\n".join([head, *_listed(_job_line(j) for j in failed)])


def dead_letters_text(letters: list[DeadLetter]) -> str:
    """New dead letters: each account-day gave up on, and how to replay them."""
    head = (
        f":rotating_light: {len(letters)} new dead letter{'s' * (len(letters) != 1)}: "
        "collections that failed every retry"
    )
    lines = (
        f"{x.platform} {x.account_id} on {x.partition_date} after {x.attempts} failed "
        f"attempts: {x.error_class or '?'}: {x.error or ''}".rstrip(": ")
        for x in letters
    )
    tail = "Fix the cause, then `social-pipeline replay` (or the replay_dead_letters_job)."
    return "\n".join([head, *_listed(lines), tail])


def run_failed_text(job_name: str, run_id: str, partition: str | None, message: str) -> str:
    """A Dagster run that ended failed."""
    day = f" for {partition}" if partition else ""
    return f":x: run {run_id} of {job_name}{day} failed: {message}"


def _job_line(job: dict[str, Any]) -> str:
    reason = job.get("error") or job["status"]
    return f"• {job['account_id']}: {job.get('error_class') or job['status']}: {reason[:300]}"


def _listed(lines: Iterable[str]) -> list[str]:
    lines = list(lines)
    more = len(lines) - MAX_LINES
    return lines[:MAX_LINES] + ([f"… and {more} more"] if more > 0 else [])
