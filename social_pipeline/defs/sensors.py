"""Sensors: first collections for new accounts; retries, dead letters and their replays;
and the notice of a failed run, posted to SOCIAL_PIPELINE_WEBHOOK_URL."""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from social_pipeline.core.settings import Account
from social_pipeline.defs.jobs import accounts_config, collect_day, keys_for_platform
from social_pipeline.defs.resources import SettingsResource
from social_pipeline.operations.notify import dead_letters_text, notify, run_failed_text
from social_pipeline.operations.replay import plan_replay
from social_pipeline.operations.retries import plan_recovery
from social_pipeline.storage import raw
from social_pipeline.storage.dead_letters import (
    forget_replay_request,
    pending_replay_requests,
    write_dead_letters,
)

RETRY_DAYS = 3  # how far back failed days are still retried
PARTITION_TAG = "dagster/partition"


def collection_sensor(interval: int):  # noqa: ANN201
    """Every sensor here launches `collect_day` runs and is on from the first start.

    Each sensor's docstring is the description the UI shows.
    """
    return dg.sensor(
        job=collect_day,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


def accounts_run(
    platform: str, day: date, account_ids: tuple[str, ...] | list[str], run_key: str, **tags: str
) -> dg.RunRequest:
    """A run of one platform's raw asset (and everything downstream) for these accounts."""
    return dg.RunRequest(
        run_key=run_key,
        partition_key=day.isoformat(),
        asset_selection=keys_for_platform(platform),
        run_config=accounts_config(platform, account_ids),
        tags={**tags, "platform": platform},
    )


@collection_sensor(60)
def new_accounts(context: dg.SensorEvaluationContext, settings: SettingsResource):  # noqa: ANN201
    """An account added to the accounts file gets its first collection (today, plus
    SOCIAL_PIPELINE_NEW_ACCOUNT_BACKFILL_DAYS earlier days). Removed accounts stop; their
    history stays."""
    loaded = settings.load()
    current = {raw.account_key(a.platform, a.account_id): a for a in loaded.accounts}
    # First tick: anything already collected is not new; the rest is.
    known = (
        set(json.loads(context.cursor))
        if context.cursor
        else raw.collected_accounts(loaded.data_root)
    )
    new = [current[k] for k in sorted(current.keys() - known)]
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(loaded.new_account_backfill_days + 1)]
    context.update_cursor(json.dumps(sorted(current)))
    if not new:
        return dg.SkipReason(f"no new accounts among {len(current)}")
    requests = [request for day in days for request in first_collections(new, len(current), day)]
    context.log.info(f"first collection for {', '.join(a.key for a in new)}")
    return requests


def first_collections(new: list[Account], total: int, day: date) -> list[dg.RunRequest]:
    """One run per platform for its new accounts; one run of everything on a fresh install."""
    if len(new) == total:
        return [
            dg.RunRequest(
                run_key=f"new:all:{day}",
                partition_key=day.isoformat(),
                tags={"reason": "new_account"},
            )
        ]
    by_platform: dict[str, list[str]] = {}
    for account in new:
        by_platform.setdefault(account.platform, []).append(account.account_id)
    return [
        accounts_run(
            platform, day, ids, f"new:{platform}:{','.join(ids)}:{day}", reason="new_account"
        )
        for platform, ids in sorted(by_platform.items())
    ]


@collection_sensor(120)
def retry_failed_collections(context: dg.SensorEvaluationContext, settings: SettingsResource):  # noqa: ANN201
    """Failed account collections are re-requested after the platform's reset time, with
    backoff; after SOCIAL_PIPELINE_MAX_ATTEMPTS failures in a row (a success starts the
    count again) they become dead letters, and new ones are posted to the webhook."""
    loaded = settings.load()
    now = datetime.now(UTC)
    days = [now.date() - timedelta(days=n) for n in range(RETRY_DAYS)]
    retries, letters = plan_recovery(loaded, days, now)
    new = write_dead_letters(loaded.data_root, letters)
    for letter in new:
        context.log.warning(
            f"dead letter: {letter.platform} account {letter.account_id} on {letter.partition_date} "
            f"after {letter.attempts} failed attempts: {letter.error}"
        )
    if new:
        notify(loaded, dead_letters_text(new))
    if not retries:
        return dg.SkipReason(f"no retries due; {len(letters)} dead letters open")
    return [
        accounts_run(
            r.platform, r.day, r.account_ids, r.run_key, reason="retry", attempt=str(r.attempt)
        )
        for r in retries
    ]


@collection_sensor(30)
def replay_dead_letters(context: dg.SensorEvaluationContext, settings: SettingsResource):  # noqa: ANN201
    """Replays requested with replay_dead_letters_job: one run of the raw asset per
    platform and day for the dead-lettered accounts, through the pools like any run."""
    loaded = settings.load()
    requests: list[dg.RunRequest] = []
    for pending in pending_replay_requests(loaded.data_root):
        planned = plan_replay(
            loaded,
            platform=pending["platform"] or None,
            account_id=pending["account_id"] or None,
            progress=context.log.info,
        )
        requests.extend(
            accounts_run(
                r.platform, r.day, r.account_ids, r.run_key(pending["request_id"]), reason="replay"
            )
            for r in planned
        )
        # Run keys make a request launched once even if this tick is evaluated again.
        forget_replay_request(loaded.data_root, pending["request_id"])
    return requests or dg.SkipReason("no replay requested")


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=60)
def notify_failed_runs(context: dg.RunFailureSensorContext, settings: SettingsResource) -> None:
    """A failed run (a crash, or a run that collected no account) is posted to the webhook
    in SOCIAL_PIPELINE_WEBHOOK_URL, with each failed step's reason. Unset: nothing is sent."""
    run = context.dagster_run
    reasons = [f"{e.step_key}: {step_failure_reason(e)}" for e in context.get_step_failure_events()]
    message = "; ".join(reasons) or (context.failure_event.message or "no reason recorded")
    notify(
        settings.load(),
        run_failed_text(run.job_name, run.run_id, run.tags.get(PARTITION_TAG), message),
    )


def step_failure_reason(event: dg.DagsterEvent) -> str:
    """A failed step's reason in one line: a `dg.Failure`'s description, else the error's."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    message = data.error.message.strip() if data.error else "no reason recorded"
    return message.splitlines()[0] if message else "no reason recorded"


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(
        sensors=[new_accounts, retry_failed_collections, replay_dead_letters, notify_failed_runs]
    )
