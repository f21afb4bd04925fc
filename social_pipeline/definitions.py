"""Assembles the Dagster definitions; nothing else lives here."""

from __future__ import annotations

import dagster as dg

from social_pipeline.defs.jobs import collect_day, replay_dead_letters_job
from social_pipeline.defs.normalized_assets import normalized
from social_pipeline.defs.raw_assets import raw_assets
from social_pipeline.defs.resources import PipelineResource
from social_pipeline.defs.schedules import daily_finalize, hourly_refresh
from social_pipeline.defs.sensors import new_accounts, retry_failed_collections
from social_pipeline.defs.warehouse_assets import warehouse

defs = dg.Definitions(
    assets=[*raw_assets, normalized, warehouse],
    jobs=[collect_day, replay_dead_letters_job],
    schedules=[daily_finalize, hourly_refresh],
    sensors=[new_accounts, retry_failed_collections],
    resources={"pipeline": PipelineResource()},
)
