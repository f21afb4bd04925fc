"""Jobs the schedules, sensors and UI launch."""

import dagster as dg

from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import SettingsResource
from social_pipeline.defs.warehouse_assets import SPECS as WAREHOUSE_SPECS
from social_pipeline.operations.replay import plan_replay
from social_pipeline.operations.store import NORMALIZED_TABLES
from social_pipeline.storage.dead_letters import request_replay

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


@dg.op(description="Ask the replay sensor to collect dead-lettered accounts again.")
def request_dead_letter_replay(
    context: dg.OpExecutionContext, config: ReplayConfig, settings: SettingsResource
) -> None:
    loaded = settings.load()
    planned = plan_replay(
        loaded,
        platform=config.platform or None,
        account_id=config.account_id or None,
        progress=context.log.info,
    )
    if not planned:
        context.log.info("no open dead letters match; nothing to replay")
        return
    request_replay(loaded.data_root, context.run_id, config.platform, config.account_id)
    context.log.info(
        f"replay requested for {sum(len(r.account_ids) for r in planned)} accounts on "
        f"{len(planned)} platform-days; the replay_dead_letters sensor launches their runs"
    )


@dg.job(
    description="Replay dead letters: the replay_dead_letters sensor launches runs of the "
    "raw assets for those accounts and days (or run `social-pipeline replay`)."
)
def replay_dead_letters_job() -> None:
    request_dead_letter_replay()


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[collect_day, replay_dead_letters_job])
