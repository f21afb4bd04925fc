"""One platform's collection day: every account pulled, isolated, landed and recorded.

This is what the `raw_<platform>` assets call. One bad account (expired token, quota
spent) becomes a failed job record; the others still land.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from social_pipeline.clients.base import RawPage
from social_pipeline.clients.errors import ApiError, AuthError
from social_pipeline.clients.http import ApiSession, CallStats, RetryPolicy
from social_pipeline.clients.limits import RateLimitCoordinator
from social_pipeline.clients.redaction import Redactor
from social_pipeline.core.settings import Account, Settings, SettingsError
from social_pipeline.core.window import CollectionWindow, RefreshPlan
from social_pipeline.operations.credentials import CredentialProvider
from social_pipeline.operations.refresh import plan_refresh
from social_pipeline.operations.registry import client_class, make_session
from social_pipeline.storage import raw

log = logging.getLogger("social_pipeline.operations.collect")


@dataclass
class PlatformPull:
    """The outcome of one platform's day, for the asset's metadata."""

    platform: str
    day: date
    jobs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    # Waits on rate limits per scope (app, endpoint, user, endpoint_user, page).
    rate_limit_waits: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return sum(j["status"] == "success" for j in self.jobs)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs if j["status"] != "success"]

    def total(self, key: str) -> float:
        return sum(j[key] or 0 for j in self.jobs)


def collect_platform(
    settings: Settings,
    platform: str,
    day: date,
    *,
    base_url: str,
    only_accounts: Sequence[str] = (),
    run_id: str | None = None,
    workers: int = 4,
    policy: RetryPolicy | None = None,
    progress: Callable[[str], None] | None = None,
    credentials: CredentialProvider | None = None,
) -> PlatformPull:
    """Pull every (or each named) account of `platform` for collection day `day`."""
    accounts = settings.accounts_for(platform, set(only_accounts) or None)
    missing = set(only_accounts) - {a.account_id for a in accounts}
    if missing:
        raise SettingsError(
            f"{platform}: no account {', '.join(sorted(missing))} in "
            f"{settings.accounts_file or 'the built-in sandbox'}"
        )
    window = CollectionWindow(day, settings.window_days)
    policy = policy or RetryPolicy(max_rate_limit_wait=settings.max_rate_limit_wait)
    started = time.monotonic()
    local = threading.local()
    sessions: list[ApiSession] = []
    lock = threading.Lock()
    # One coordinator for all workers: a limit one of them meets holds for all of them,
    # and limits an earlier run saw exhausted hold from the first request.
    limits = RateLimitCoordinator(platform)
    seeded = limits.seed(raw.recent_rate_limits(settings.data_root, platform))
    for block in seeded:
        log.info(
            "%s: %s-scoped rate limit of an earlier run holds until %s",
            platform,
            block.scope,
            block.until.isoformat(),
        )

    def session() -> ApiSession:
        # ApiSession is not thread-safe: one per worker thread, reused across accounts.
        if not hasattr(local, "session"):
            local.session = make_session(platform, base_url, policy=policy, redactor=Redactor())
            local.session.limits = limits
            with lock:
                sessions.append(local.session)
        return local.session

    # Attempts count across runs, so retries and dead letters know how often a day failed.
    earlier = Counter(j["account_id"] for j in raw.read_jobs(settings.data_root, platform, day))

    # One provider for all workers: it refreshes each account at most once at a time.
    provider = credentials or CredentialProvider(settings)

    # Age-tiered refresh (where configured): which older posts each account reads today.
    plans = plan_refresh(settings, platform, day, accounts)

    def one(account: Account) -> dict[str, Any]:
        attempt = earlier[account.account_id] + 1
        return collect_account(
            settings,
            account,
            window,
            session(),
            provider,
            attempt=attempt,
            run_id=run_id,
            plan=plans.get(account.account_id),
        )

    pull = PlatformPull(platform, day)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(accounts) or 1))) as pool:
        for done, job in enumerate(pool.map(one, accounts), start=1):
            pull.jobs.append(job)
            if progress and (done % 50 == 0 or done == len(accounts)):
                progress(
                    f"{platform}: {done}/{len(accounts)} accounts done, "
                    f"{pull.ok} collected, {len(pull.failed)} failed"
                )
    _merge_rate_limits(settings.data_root, platform, day, [w.to_record() for w in limits.windows()])
    for s in sessions:
        s.close()
    pull.rate_limit_waits = dict(limits.waits)
    if limits.waits or limits.refusals:
        log.info("%s %s: rate-limit waits by scope: %s", platform, day, limits.summary())
    pull.seconds = round(time.monotonic() - started, 3)
    return pull


def collect_account(
    settings: Settings,
    account: Account,
    window: CollectionWindow,
    session: ApiSession,
    credentials: CredentialProvider,
    *,
    attempt: int = 1,
    run_id: str | None = None,
    plan: RefreshPlan | None = None,
) -> dict[str, Any]:
    """Pull one account, land what was collected and record the attempt. Never raises."""
    job_id = uuid.uuid4().hex
    started_at = datetime.now(UTC)
    session.account_id = account.account_id  # the key of its user and page limits
    before = session.stats.copy()
    pages: list[RawPage] = []
    error: Exception | None = None
    try:
        token = credentials.access_token(account)
        try:
            _pull(pages, session, account, window, token, settings, plan)
        except AuthError:
            # Expired (or revoked) token: refresh once, where the account can, then retry.
            fresh = credentials.after_rejection(account, token)
            if fresh is None:
                raise
            pages.clear()
            _pull(pages, session, account, window, fresh, settings, plan)
    except ApiError as exc:
        exc.account_id = account.account_id
        error = exc
    except SettingsError as exc:
        error = exc
    except Exception as exc:  # a bug must fail this account only, loudly
        log.exception("%s account %s: unexpected error", account.platform, account.account_id)
        error = exc
    stats: CallStats = session.stats.since(before)
    status = "success" if error is None else ("partial" if pages else "failed")
    job = {
        "job_id": job_id,
        "platform": account.platform,
        "account_id": account.account_id,
        "partition_date": window.day.isoformat(),
        "status": status,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "posts_collected": sum(len(p.post_ids) for p in pages if p.kind == "posts"),
        "api_calls": stats.api_calls,
        "retries": stats.retries,
        "seconds_waited": stats.seconds_waited,
        "attempt": attempt,
        "error_class": _error_class(error),
        "error": session.redactor.text(credentials.redactor.text(str(error))) if error else None,
        "reset_at": _reset_at(error),
        "run_id": run_id,
    }
    if pages:
        _land(settings.data_root, account, window, job, pages, session.redactor, plan)
    raw.write_job(settings.data_root, account.platform, window.day, job)
    if error is not None:
        log.warning("%s", job["error"])
    return job


def _pull(
    pages: list[RawPage],
    session: ApiSession,
    account: Account,
    window: CollectionWindow,
    token: str,
    settings: Settings,
    plan: RefreshPlan | None = None,
) -> None:
    """Append the account's pages as they arrive: a pull that fails halfway keeps them."""
    version = settings.api_versions.get(account.platform)
    extra: dict[str, Any] = {"api_version": version} if version else {}
    if account.platform == "x" and settings.x_include_retweets:
        extra["include_retweets"] = True
    client = client_class(account.platform)(session, account.account_id, token, **extra)
    for page in client.collect(window, plan):
        pages.append(page)


def _land(
    data: str,
    account: Account,
    window: CollectionWindow,
    job: dict[str, Any],
    pages: list[RawPage],
    redactor: Redactor,
    plan: RefreshPlan | None = None,
) -> None:
    """Write the pages. A partial pull never replaces a complete one of the same day.

    Under a refresh plan the header says where the listing began (`listed_from`), so
    normalizing knows which older posts were not listed on purpose.
    """
    header = {
        "platform": account.platform,
        "account_id": account.account_id,
        "partition_date": window.day.isoformat(),
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "collected_at": job["started_at"],
        "job_id": job["job_id"],
        "status": job["status"],
    }
    if plan is not None:
        header["listed_from"] = plan.listing(window).start.isoformat()
    records = [redactor.data(p.to_record()) for p in pages]
    partial = job["status"] != "success" and raw.pull_is_complete(
        data, account.platform, window.day, account.account_id
    )
    raw.land_pull(data, account.platform, window.day, account.account_id, header, records, partial)


def _merge_rate_limits(data: str, platform: str, day: date, windows: list[dict[str, Any]]) -> None:
    """The day's file keeps the latest window per endpoint, scope and account."""
    latest = {raw.rate_limit_key(w): w for w in raw.read_rate_limits(data, platform, day)}
    for w in windows:
        key = raw.rate_limit_key(w)
        if key not in latest or w["observed_at"] >= latest[key]["observed_at"]:
            latest[key] = w
    raw.write_rate_limits(data, platform, day, sorted(latest.values(), key=raw.rate_limit_key))


def _error_class(error: Exception | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, ApiError):
        return error.error_class
    if isinstance(error, SettingsError):
        return "config"
    return "internal"


def _reset_at(error: Exception | None) -> str | None:
    reset = getattr(error, "reset_at", None)
    return reset.isoformat() if reset else None
