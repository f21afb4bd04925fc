"""Assembles the Dagster definitions; nothing else lives here."""

from __future__ import annotations

import dagster as dg

from social_pipeline.defs.normalized_assets import normalized
from social_pipeline.defs.raw_assets import raw_assets
from social_pipeline.defs.resources import PipelineResource
from social_pipeline.defs.warehouse_assets import warehouse

defs = dg.Definitions(
    assets=[*raw_assets, normalized, warehouse],
    resources={"pipeline": PipelineResource()},
)
