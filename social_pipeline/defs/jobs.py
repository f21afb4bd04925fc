"""Jobs the schedules, sensors and UI launch."""

import dagster as dg

from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import PipelineResource
from social_pipeline.defs.warehouse_assets import SPECS as WAREHOUSE_SPECS
from social_pipeline.replay import replay_dead_letters
from social_pipeline.store import NORMALIZED_TABLES

collect_day = dg.define_asset_job(
    "collect_day",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Collect every account for a day, then normalize and rebuild the warehouse.",
)


def keys_for_platform(platform: str) -> list[dg.AssetKey]:
    """One platform's raw asset and everything downstream of it."""
    return [
        dg.AssetKey(f"raw_{platform}"),
        *(dg.AssetKey(t) for t in NORMALIZED_TABLES),
        *(s.key for s in WAREHOUSE_SPECS),
    ]


def accounts_config(platform: str, account_ids: list[str] | tuple[str, ...]) -> dict:
    return {"ops": {f"raw_{platform}": {"config": {"accounts": list(account_ids)}}}}


class ReplayConfig(dg.Config):
    """Leave empty to replay every open dead letter."""

    platform: str = ""
    account_id: str = ""


@dg.op(
    description="Collect dead-lettered accounts again, then refresh their days and the warehouse."
)
def replay_dead_letters_op(
    context: dg.OpExecutionContext, config: ReplayConfig, pipeline: PipelineResource
) -> None:
    settings = pipeline.settings()
    with pipeline.base_urls(settings) as urls:
        jobs = replay_dead_letters(
            settings,
            urls,
            platform=config.platform or None,
            account_id=config.account_id or None,
            progress=context.log.info,
        )
    for job in jobs:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=f"raw_{job['platform']}",
                partition=job["partition_date"],
                metadata={"account": job["account_id"], "status": job["status"], "replay": True},
            )
        )
    failed = [j for j in jobs if j["status"] != "success"]
    context.log.info(f"replayed {len(jobs)} account collections, {len(failed)} still failing")
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} replayed collections failed again",
            metadata={"errors": dg.MetadataValue.md("\n".join(f"- {j['error']}" for j in failed))},
        )


@dg.job(description="Replay dead letters: one click in the UI, or `social-pipeline replay`.")
def replay_dead_letters_job() -> None:
    replay_dead_letters_op()
