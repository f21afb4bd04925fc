"""A daily schedule that finalizes yesterday and an hourly one that refreshes today."""

from datetime import timedelta

import dagster as dg

from social_pipeline.defs.jobs import collect_day


def collection_schedule(cron: str, status: dg.DefaultScheduleStatus):  # noqa: ANN201
    """Both schedules launch `collect_day` on UTC crons; each docstring is its description."""
    return dg.schedule(
        job=collect_day, cron_schedule=cron, execution_timezone="UTC", default_status=status
    )


@collection_schedule("15 0 * * *", dg.DefaultScheduleStatus.RUNNING)
def daily_finalize(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """00:15 UTC: collect yesterday once it is complete."""
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"daily:{day}", partition_key=day, tags={"schedule": "daily"})


@collection_schedule("5 * * * *", dg.DefaultScheduleStatus.STOPPED)
def hourly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every hour: refresh today's partition (re-running a day is always safe)."""
    moment = context.scheduled_execution_time
    day = moment.date().isoformat()
    return dg.RunRequest(
        run_key=f"hourly:{day}:{moment.hour:02d}", partition_key=day, tags={"schedule": "hourly"}
    )


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(schedules=[daily_finalize, hourly_refresh])
