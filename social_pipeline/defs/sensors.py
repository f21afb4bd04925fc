"""Sensors: first collections for new accounts; retries and dead letters for failed ones."""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from social_pipeline import raw
from social_pipeline.defs.jobs import accounts_config, collect_day, keys_for_platform
from social_pipeline.defs.resources import PipelineResource
from social_pipeline.recovery import plan_recovery, write_dead_letters
from social_pipeline.settings import BACKFILL_DAYS_ENV, MAX_ATTEMPTS_ENV, Account

RETRY_DAYS = 3  # how far back failed days are still retried


@dg.sensor(
    job=collect_day,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="An account added to the accounts file gets its first collection (today, "
    f"plus {BACKFILL_DAYS_ENV} earlier days). Removed accounts stop; their history stays.",
)
def new_accounts(context: dg.SensorEvaluationContext, pipeline: PipelineResource):  # noqa: ANN201
    settings = pipeline.settings()
    current = {raw.account_key(a.platform, a.account_id): a for a in settings.accounts}
    # First tick: anything already collected is not new; the rest is.
    known = (
        set(json.loads(context.cursor))
        if context.cursor
        else raw.collected_accounts(settings.data_dir)
    )
    new = [current[k] for k in sorted(current.keys() - known)]
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(settings.new_account_backfill_days + 1)]
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
        dg.RunRequest(
            run_key=f"new:{platform}:{','.join(ids)}:{day}",
            partition_key=day.isoformat(),
            asset_selection=keys_for_platform(platform),
            run_config=accounts_config(platform, ids),
            tags={"reason": "new_account", "platform": platform},
        )
        for platform, ids in sorted(by_platform.items())
    ]


@dg.sensor(
    job=collect_day,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Failed account collections are re-requested after the platform's reset time, "
    f"with backoff, up to {MAX_ATTEMPTS_ENV} attempts; then they become dead letters.",
)
def retry_failed_collections(context: dg.SensorEvaluationContext, pipeline: PipelineResource):  # noqa: ANN201
    settings = pipeline.settings()
    now = datetime.now(UTC)
    days = [now.date() - timedelta(days=n) for n in range(RETRY_DAYS)]
    retries, letters = plan_recovery(settings, days, now)
    for letter in write_dead_letters(settings.data_dir, letters):
        context.log.warning(
            f"dead letter: {letter.platform} account {letter.account_id} on {letter.partition_date} "
            f"after {letter.attempts} attempts: {letter.error}"
        )
    if not retries:
        return dg.SkipReason(f"no retries due; {len(letters)} dead letters open")
    return [
        dg.RunRequest(
            run_key=r.run_key,
            partition_key=r.day.isoformat(),
            asset_selection=keys_for_platform(r.platform),
            run_config=accounts_config(r.platform, r.account_ids),
            tags={"reason": "retry", "platform": r.platform, "attempt": str(r.attempt)},
        )
        for r in retries
    ]
