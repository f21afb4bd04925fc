"""`raw_<platform>`: one asset per platform that lands each account's pages for a day."""

import dagster as dg

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.window import parse_day
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import ApiHostsResource, SettingsResource
from social_pipeline.operations.collect import PlatformPull, collect_platform
from social_pipeline.operations.quality import uncollected_accounts

# Step retries are for crashes (disk full, killed worker), not API errors: those are
# retried inside the HTTP layer and recorded per account, so a retry here re-pulls
# only after the whole step failed.
RAW_RETRY = dg.RetryPolicy(
    max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


class CollectConfig(dg.Config):
    """Launchpad config. Name account ids to collect just those ("collect this account now")."""

    accounts: list[str] = []


def raw_asset(platform: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{platform}",
        partitions_def=daily_partitions,
        group_name="raw",
        kinds={"python", "json"},
        pool=f"api_{platform}",
        retry_policy=RAW_RETRY,
        tags={"platform": platform},
        check_specs=[
            dg.AssetCheckSpec(
                "every_account_collected",
                asset=f"raw_{platform}",
                description="Warns when an account's latest attempt for the day did not succeed.",
            )
        ],
        description=(
            f"Every {platform} account's profile, posts of the 28-day window ending on the "
            f"partition day, and their current metrics, as received from the API, under "
            f"data/raw/{platform}/date=D/. One failed account is recorded and the rest land."
        ),
    )
    def _raw(
        context: dg.AssetExecutionContext,
        config: CollectConfig,
        settings: SettingsResource,
        apis: ApiHostsResource,
    ) -> dg.MaterializeResult:
        loaded = settings.load()
        day = parse_day(context.partition_key)
        with apis.base_urls(loaded) as urls:
            pull = collect_platform(
                loaded,
                platform,
                day,
                base_url=urls[platform],
                only_accounts=config.accounts,
                run_id=context.run_id,
                progress=context.log.info,
            )
        for job in pull.failed:
            context.log.warning(f"{job['status']}: {job['error']}")
        missing = uncollected_accounts(loaded, platform, day)
        return dg.MaterializeResult(
            metadata=pull_metadata(pull),
            check_results=[
                dg.AssetCheckResult(
                    check_name="every_account_collected",
                    passed=not missing,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "uncollected_accounts": dg.MetadataValue.md(", ".join(missing) or "none")
                    },
                )
            ],
        )

    return _raw


def pull_metadata(pull: PlatformPull) -> dict[str, dg.MetadataValue | int | float | str]:
    rows = [
        f"| {j['account_id']} | {j['status']} | {j['error_class']} | {j['reset_at'] or ''} | {(j['error'] or '')[:160]} |"
        for j in pull.failed
    ]
    failures = "\n".join(
        ["| account | status | class | reset at | error |", "|---|---|---|---|---|", *rows]
    )
    return {
        "accounts_ok": pull.ok,
        "accounts_failed": len(pull.failed),
        "posts": int(pull.total("posts_collected")),
        "api_calls": int(pull.total("api_calls")),
        "retries": int(pull.total("retries")),
        "seconds_waited": round(pull.total("seconds_waited"), 3),
        "seconds": pull.seconds,
        "failures": dg.MetadataValue.md(failures if rows else "none"),
    }


raw_assets = [raw_asset(p) for p in PLATFORMS]


@dg.definitions
def definitions() -> dg.Definitions:
    return dg.Definitions(assets=raw_assets)
