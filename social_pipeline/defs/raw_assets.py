"""`raw_<platform>`: one asset per platform that lands each account's pages for a day."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg

from social_pipeline.clients.graph import GRAPH_VERSION
from social_pipeline.clients.linkedin import DEFAULT_VERSION as LINKEDIN_VERSION
from social_pipeline.core.api_versions import version_warning
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import Settings
from social_pipeline.core.window import parse_day
from social_pipeline.defs.metadata import table_value
from social_pipeline.defs.partitions import daily_partitions
from social_pipeline.defs.resources import ApiHostsResource, SettingsResource
from social_pipeline.operations.collect import PlatformPull, collect_platform
from social_pipeline.operations.credentials import credential_health
from social_pipeline.operations.notify import failed_accounts_text, notify
from social_pipeline.operations.quality import uncollected_accounts
from social_pipeline.operations.run_status import STATUS_COLUMNS, status_rows

# The version each client sends unless SOCIAL_PIPELINE_<PLATFORM>_API_VERSION says otherwise.
DEFAULT_API_VERSIONS = {
    "facebook": GRAPH_VERSION,
    "instagram": GRAPH_VERSION,
    "linkedin": LINKEDIN_VERSION,
}
# Runs that lost accounts say so where runs are listed: `social_pipeline/failed_<platform>`
# per platform, and their sum in `social_pipeline/failed_accounts`.
FAILED_TAG = "social_pipeline/failed_accounts"
STATUS_TYPES = {c: "int" if c in ("posts", "api_calls") else "string" for c in STATUS_COLUMNS}
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
                description="Warns when an account's latest attempt for the day did not "
                "succeed; an error when none of the platform's accounts was collected.",
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
            f"data/raw/{platform}/date=D/. One failed account is recorded and the rest land; "
            "the run is tagged with the failures, and the `accounts` table says why."
        ),
    )
    def _raw(
        context: dg.AssetExecutionContext,
        config: CollectConfig,
        settings: SettingsResource,
        apis: ApiHostsResource,
    ) -> Iterator[dg.MaterializeResult]:
        loaded = settings.load()
        day = parse_day(context.partition_key)
        with apis.base_urls(loaded, day) as urls:
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
        if pull.failed:
            tag_failed_accounts(context, platform, len(pull.failed))
            notify(loaded, failed_accounts_text(platform, str(day), pull.jobs, context.run_id))
        metadata = pull_metadata(pull)
        # The table and the checks are recorded even when the step then fails.
        yield dg.MaterializeResult(
            metadata=metadata, check_results=raw_checks(context, loaded, platform, day)
        )
        if pull.failed and not pull.ok and not normalizes_in_run(context):
            # Nothing landed and nothing downstream in this run can fail it: fail here.
            # (With `normalized` in the run, it fails the run if no platform landed
            # anything, so one dead platform never holds back the others.)
            raise dg.Failure(
                f"{platform}: none of {len(pull.jobs)} accounts was collected",
                metadata={"accounts": metadata["accounts"]},
                allow_retries=False,
            )

    return _raw


def raw_checks(
    context: dg.AssetExecutionContext, settings: Settings, platform: str, day: date
) -> list[dg.AssetCheckResult]:
    """Every account collected (an error when none was), credentials, API version."""
    missing = uncollected_accounts(settings, platform, day)
    version, version_warning_text = api_version_warning(
        settings, platform, datetime.now(UTC).date()
    )
    if version_warning_text:
        context.log.warning(version_warning_text)
    none_collected = bool(missing) and len(missing) == len(settings.accounts_for(platform))
    return [
        dg.AssetCheckResult(
            check_name="every_account_collected",
            passed=not missing,
            severity=dg.AssetCheckSeverity.ERROR if none_collected else dg.AssetCheckSeverity.WARN,
            metadata={
                "uncollected": len(missing),
                "uncollected_accounts": dg.MetadataValue.text(", ".join(missing) or "none"),
            },
        ),
        credentials_check(settings, platform),
        dg.AssetCheckResult(
            check_name="api_version_supported",
            passed=version_warning_text is None,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "api_version": version or "n/a",
                "warning": version_warning_text or "none",
            },
        ),
    ]


def pull_metadata(pull: PlatformPull) -> dict[str, dg.MetadataValue | int | float | str]:
    """Counts of successes (not attempts), and one status row per account tried."""
    return {
        "accounts_ok": pull.ok,
        "accounts_failed": len(pull.failed),
        "posts": int(pull.total("posts_collected")),
        "api_calls": int(pull.total("api_calls")),
        "retries": int(pull.total("retries")),
        "seconds_waited": round(pull.total("seconds_waited"), 3),
        "seconds": pull.seconds,
        # Waits for rate limits shared by the platform's workers, per scope (app, page...).
        **{f"rate_limit_waits_{scope}": n for scope, n in sorted(pull.rate_limit_waits.items())},
        "accounts": table_value(status_rows(pull.jobs), STATUS_TYPES),
    }


def tag_failed_accounts(context: dg.AssetExecutionContext, platform: str, failed: int) -> None:
    """Tag the run: this platform's failures, and the total over the run's platforms.

    Steps of one run may tag at once; each re-reads the tags after writing its own, so the
    total counts every platform that wrote before it.
    """
    instance = context.instance
    instance.add_run_tags(context.run_id, {f"social_pipeline/failed_{platform}": str(failed)})
    run = instance.get_run_by_id(context.run_id)
    tags = run.tags if run else {}
    total = sum(
        int(v)
        for k, v in tags.items()
        if k.startswith("social_pipeline/failed_") and k != FAILED_TAG
    )
    instance.add_run_tags(context.run_id, {FAILED_TAG: str(total)})


def normalizes_in_run(context: dg.AssetExecutionContext) -> bool:
    """True when this run also runs `normalized`."""
    selection = (
        context.dagster_run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    )
    return dg.AssetKey("posts") in selection


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
    rows = [
        {"account": h.account_id, "kind": h.kind, "status": h.status, "next step": h.next_step}
        for h in health
    ]
    return dg.AssetCheckResult(
        check_name="credentials_current",
        passed=not expired and not expiring,
        severity=dg.AssetCheckSeverity.ERROR if expired else dg.AssetCheckSeverity.WARN,
        metadata={
            "expired": len(expired),
            "expiring_within_14_days": len(expiring),
            "accounts": table_value(
                rows,
                {"account": "string", "kind": "string", "status": "string", "next step": "string"},
            ),
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
