"""`raw_<platform>`: one asset per platform that lands each account's pages for a day."""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from social_pipeline.clients.graph import GRAPH_VERSION
from social_pipeline.clients.linkedin import DEFAULT_VERSION as LINKEDIN_VERSION
from social_pipeline.core.api_versions import version_warning
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import Settings
from social_pipeline.core.window import parse_day
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import ApiHostsResource, SettingsResource
from social_pipeline.operations.collect import PlatformPull, collect_platform
from social_pipeline.operations.credentials import credential_health
from social_pipeline.operations.quality import uncollected_accounts
from social_pipeline.operations.render import markdown_rows

# Step retries are for crashes (disk full, killed worker), not API errors: those are
# retried inside the HTTP layer and recorded per account, so a retry here re-pulls
# only after the whole step failed.
# The version each client sends unless SOCIAL_PIPELINE_<PLATFORM>_API_VERSION says otherwise.
DEFAULT_API_VERSIONS = {
    "facebook": GRAPH_VERSION,
    "instagram": GRAPH_VERSION,
    "linkedin": LINKEDIN_VERSION,
}
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
            ),
            dg.AssetCheckSpec(
                "credentials_current",
                asset=f"raw_{platform}",
                description="Warns 14 days before a refresh token, or a token that cannot be "
                "refreshed, expires; fails once one has expired (`social-pipeline auth status`).",
            ),
            dg.AssetCheckSpec(
                "api_version_supported",
                asset=f"raw_{platform}",
                description="Warns when the API version in use (SOCIAL_PIPELINE_<PLATFORM>_"
                "API_VERSION or the default) is close to retirement: a LinkedIn-Version older "
                "than 10 months, a Graph version within 90 days of its end of life.",
            ),
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
        version, version_warning_text = api_version_warning(
            loaded, platform, datetime.now(UTC).date()
        )
        if version_warning_text:
            context.log.warning(version_warning_text)
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
                ),
                credentials_check(loaded, platform),
                dg.AssetCheckResult(
                    check_name="api_version_supported",
                    passed=version_warning_text is None,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "api_version": version or "n/a",
                        "warning": version_warning_text or "none",
                    },
                ),
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


def credentials_check(settings: Settings, platform: str) -> dg.AssetCheckResult:
    """ERROR once a credential has expired, WARN within 14 days of it, else a pass."""
    now = datetime.now(UTC)
    health = credential_health(settings, settings.accounts_for(platform), now)
    expired = [h for h in health if h.status == "expired"]
    expiring = [h for h in health if h.status == "expiring"]
    rows = pl.DataFrame(
        [
            {"account": h.account_id, "kind": h.kind, "status": h.status, "next step": h.next_step}
            for h in health
        ],
        schema={
            "account": pl.String,
            "kind": pl.String,
            "status": pl.String,
            "next step": pl.String,
        },
    )
    return dg.AssetCheckResult(
        check_name="credentials_current",
        passed=not expired and not expiring,
        severity=dg.AssetCheckSeverity.ERROR if expired else dg.AssetCheckSeverity.WARN,
        metadata={
            "expired": len(expired),
            "expiring_within_14_days": len(expiring),
            "accounts": dg.MetadataValue.md(markdown_rows(rows)),
        },
    )


def api_version_warning(
    settings: Settings, platform: str, today: date
) -> tuple[str | None, str | None]:
    """The API version the platform's client sends, and why it needs changing soon (or None).

    Only the Graph platforms and LinkedIn version on a schedule; the rest never warn.
    """
    version = settings.api_versions.get(platform) or DEFAULT_API_VERSIONS.get(platform)
    return version, version_warning(platform, version, today) if version else None
