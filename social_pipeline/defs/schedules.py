"""A daily schedule that finalizes yesterday and an hourly one that refreshes today."""

from datetime import timedelta

import dagster as dg

from social_pipeline.defs.jobs import collect_day


@dg.schedule(
    job=collect_day,
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="00:15 UTC: collect yesterday once it is complete.",
)
def daily_finalize(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"daily:{day}", partition_key=day, tags={"schedule": "daily"})


@dg.schedule(
    job=collect_day,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour: refresh today's partition (re-running a day is always safe).",
)
def hourly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    moment = context.scheduled_execution_time
    day = moment.date().isoformat()
    return dg.RunRequest(
        run_key=f"hourly:{day}:{moment.hour:02d}", partition_key=day, tags={"schedule": "hourly"}
    )
