"""Daily partitions (UTC): a partition is a collection day."""

from __future__ import annotations

import dagster as dg

from social_pipeline.core.settings import start_date

# end_offset=1 makes today a partition too, so the hourly refresh can run it.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=start_date().isoformat(), end_offset=1, timezone="UTC"
)
