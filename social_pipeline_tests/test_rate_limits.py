"""Rate limits are shared by a platform's workers and honoured per scope, from the last run on.

A limit one worker meets stops every request in its scope (the app, an endpoint, a user, an
endpoint for a user, a Page), in every worker, and nothing outside it. The emulator's
request log is the witness: it says when each request arrived and when each answer was
ready, so "nothing was sent in the window" is checked against what the server saw (and,
for the app-wide limit, against when each worker let its requests go).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from social_pipeline.clients.errors import RateLimited
from social_pipeline.clients.http import ApiSession, RetryPolicy
from social_pipeline.clients.limits import RateLimitCoordinator
from social_pipeline.clients.tiktok import TikTokClient
from social_pipeline.clients.x import XClient
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import SANDBOX_DEFAULT_TOKEN, Settings
from social_pipeline.core.window import CollectionWindow
from social_pipeline.operations.collect import PlatformPull, collect_platform
from social_pipeline.sandbox.protocol import LoggedRequest
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline.sandbox.world import sandbox_accounts
from social_pipeline.storage import raw
from social_pipeline_tests import helpers

DAY = helpers.FROZEN_NOW.date() - timedelta(days=1)
WORKERS = 4
# A request another worker had already sent when the throttle was answered may still
# arrive a moment later; none may arrive after this.
IN_FLIGHT = 0.25


def settings_for(sb: Sandbox, tmp_path: Path, **overrides: object) -> Settings:
    """The built-in sandbox accounts of `sb`, landing under `tmp_path`."""
    values: dict[str, object] = {
        "accounts": sandbox_accounts(sb.config.accounts_per_platform),
        "data_dir": tmp_path / "data",
        "base_urls": {p: sb.base_url(p) for p in PLATFORMS},
        "credentials_dir": tmp_path / "credentials",
        "window_days": 7,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def collect(
    sb: Sandbox, settings: Settings, platform: str, policy: RetryPolicy | None = None
) -> PlatformPull:
    return collect_platform(
        settings,
        platform,
        DAY,
        base_url=sb.base_url(platform),
        workers=WORKERS,
        policy=policy or helpers.fast_policy(max_rate_limit_wait=10.0),
    )


def first_refusal(log: list[LoggedRequest]) -> LoggedRequest:
    return min((r for r in log if r.status != 200), key=lambda r: r.received_at)


def jobs_by_account(pull: PlatformPull) -> dict[str, dict]:
    return {j["account_id"]: j for j in pull.jobs}


def test_an_app_wide_limit_stops_every_worker_until_the_window_resets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten calls per 1.5 s window for the whole app; Graph's code 4 names no reset, so the
    # workers back off on the rate-limit schedule, whose first step (1.6..3.2 s) outlasts
    # the window. Each answer takes 30 ms, so workers are mid-request when one is refused.
    policy = helpers.fast_policy(
        max_rate_limit_wait=10.0, rate_limit_backoff_base=3.2, rate_limit_backoff_cap=3.2
    )
    cleared: list[float] = []  # when each request was let go, client side
    blocks: list[tuple[float, str, datetime]] = []  # when each block was set, and until
    clear, block = ApiSession._await_clearance, RateLimitCoordinator.block

    def clearing(self: ApiSession, endpoint: str) -> None:
        clear(self, endpoint)
        cleared.append(time.time())

    def blocking(self: RateLimitCoordinator, scope: str, *args: object) -> object:
        blocks.append((time.time(), scope, args[2]))  # type: ignore[arg-type]
        return block(self, scope, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ApiSession, "_await_clearance", clearing)
    monkeypatch.setattr(RateLimitCoordinator, "block", blocking)
    with helpers.frozen_sandbox(
        accounts_per_platform=8, app_rate_limit=10, app_rate_limit_window_s=1.5, latency_ms=30
    ) as sb:
        pull = collect(sb, settings_for(sb, tmp_path), "facebook", policy)
        log = sorted(sb.requests_for("facebook"), key=lambda r: r.received_at)

    assert pull.ok == 8
    # Client side: once the first worker set the app block, no worker let a request go
    # until it ended (10 ms allows for a check that passed just before it was set).
    set_at, scope, until = min(blocks)
    assert scope == "app"
    held = [c for c in cleared if set_at + 0.01 < c < until.timestamp()]
    assert held == []
    # Server side: after the refusal was answered, only requests already on their way
    # arrived before the window reset: at most one per other worker, all refused.
    throttled = first_refusal(log)
    reset = log[0].received_at + 1.5  # the app's window starts with its first request
    assert throttled.received_at < reset <= until.timestamp()
    in_window = [r for r in log if throttled.answered_at < r.received_at < reset]
    assert len(in_window) <= WORKERS - 1
    assert all(r.status != 200 for r in in_window)
    assert all(r.received_at < throttled.answered_at + IN_FLIGHT for r in in_window)
    # The waits are counted for the app scope, and in the jobs.
    assert pull.rate_limit_waits.get("app", 0) >= WORKERS - 1
    assert sum(j["seconds_waited"] for j in pull.jobs) >= 1.6
    assert [r for r in log if r.received_at >= reset][0].status == 200


def test_a_throttled_page_waits_alone_while_other_pages_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with helpers.frozen_sandbox(accounts_per_platform=8, latency_ms=5) as sb:
        victim = sb.world.accounts("facebook")[0].account_id
        sb.inject(
            Fault("rate_limit", platform="facebook", path_contains=f"/{victim}", reset_in=1.5)
        )
        pull = collect(sb, settings_for(sb, tmp_path), "facebook")
        log = sb.requests_for("facebook")

    refused = first_refusal(log)
    assert f"/{victim}" in refused.path
    reset = refused.received_at + 1.5  # what the 80001 answer's usage header said

    def mine(r: LoggedRequest) -> bool:
        return f"/{victim}" in r.path

    others_meanwhile = [
        r for r in log if not mine(r) and refused.answered_at < r.received_at < reset
    ]
    assert others_meanwhile, "other Pages kept being collected during the throttle"
    assert all(r.status == 200 for r in others_meanwhile)
    victims_later = [r for r in log if mine(r) and r.received_at > refused.received_at]
    assert victims_later and all(r.received_at >= reset for r in victims_later)

    jobs = jobs_by_account(pull)
    assert pull.ok == 8
    assert jobs[victim]["seconds_waited"] >= 1.0 and jobs[victim]["retries"] >= 1
    assert all(j["seconds_waited"] == 0 for a, j in jobs.items() if a != victim)
    assert pull.rate_limit_waits == {"page": 1}
    waits = [r.getMessage() for r in caplog.records if r.name == "social_pipeline.http"]
    assert any("facebook" in m and "page-scoped" in m and "waiting" in m for m in waits)
    assert any("page: 1 waits" in r.getMessage() for r in caplog.records)
    assert not any(SANDBOX_DEFAULT_TOKEN in r.getMessage() for r in caplog.records)


def test_one_x_accounts_timeline_limit_leaves_other_accounts_timelines_alone(
    tmp_path: Path,
) -> None:
    with helpers.frozen_sandbox(accounts_per_platform=8, latency_ms=5) as sb:
        victim = sb.world.accounts("x")[0].account_id
        timeline = f"/2/users/{victim}/tweets"
        sb.inject(Fault("rate_limit", platform="x", path_contains=timeline, reset_in=1.5))
        pull = collect(sb, settings_for(sb, tmp_path), "x")
        log = sb.requests_for("x")

    refused = first_refusal(log)
    assert refused.path == timeline
    reset = int(refused.received_at + 1.5) + 1  # x-rate-limit-reset is whole seconds, up
    other_timelines = [
        r
        for r in log
        if r.path.endswith("/tweets")
        and r.path != timeline
        and refused.answered_at < r.received_at < reset
    ]
    assert other_timelines, "other accounts' timelines went on during the victim's window"
    retried = [r for r in log if r.path == timeline and r.received_at > refused.received_at]
    assert retried and all(r.received_at >= reset for r in retried)
    jobs = jobs_by_account(pull)
    assert pull.ok == 8
    assert all(j["seconds_waited"] == 0 for a, j in jobs.items() if a != victim)
    assert pull.rate_limit_waits == {"endpoint_user": 1}


def test_a_tiktok_endpoint_limit_holds_for_every_account_and_only_that_endpoint(
    sandbox: Sandbox,
) -> None:
    """TikTok's 429 names no reset: the whole endpoint backs off on the rate-limit schedule
    (at least 0.5 s here), not on the 5xx one (milliseconds here)."""
    policy = helpers.fast_policy(
        backoff_base=0.001, rate_limit_backoff_base=1.0, rate_limit_backoff_cap=1.0
    )
    shared = RateLimitCoordinator("tiktok")
    first, second = (a.account_id for a in sandbox.world.accounts("tiktok"))
    clients = []
    for account_id in (first, second):
        client = helpers.make_client(
            sandbox, "tiktok", account_id, token=f"act.{account_id}", policy=policy
        )
        client.http.limits, client.http.account_id = shared, account_id
        clients.append(client)
    a, b = clients
    window = CollectionWindow(DAY, 7)
    sandbox.inject(Fault("rate_limit", platform="tiktok", path_contains="/video/list/"))

    listing = threading.Thread(target=lambda: list(a.list_posts(window)))
    listing.start()
    deadline = time.monotonic() + 5
    while not shared.blocks() and time.monotonic() < deadline:
        time.sleep(0.005)
    (block,) = shared.blocks()
    b.fetch_profile()  # another endpoint: not held
    list(b.list_posts(window))  # the same endpoint: held for b too
    listing.join()

    assert (block.scope, block.endpoint, block.account_id) == ("endpoint", TikTokClient.VIDEOS, "")
    log = sandbox.requests_for("tiktok")
    refused = first_refusal(log)
    assert refused.path == "/v2/video/list/" and refused.status == 429
    profile = next(r for r in log if r.path == "/v2/user/info/")
    assert refused.answered_at < profile.received_at < refused.answered_at + 0.5
    later_lists = [r for r in log if r.path == "/v2/video/list/" and r is not refused]
    assert len(later_lists) >= 2  # a's retry and b's listing
    assert all(r.received_at >= refused.answered_at + 0.5 for r in later_lists)
    assert all(r.status == 200 for r in later_lists)
    assert shared.waits["endpoint"] == 2  # a and b each waited once, for the same block
    assert b.http.stats.seconds_waited > 0


def test_a_limit_exhausted_in_the_last_run_is_not_called_until_it_resets(
    tmp_path: Path,
) -> None:
    policy = helpers.fast_policy(max_rate_limit_wait=5.0)
    with helpers.frozen_sandbox(accounts_per_platform=2) as sb:
        settings = settings_for(sb, tmp_path)
        victim, other = (a.account_id for a in sb.world.accounts("x"))
        timeline = f"/2/users/{victim}/tweets"
        sb.inject(Fault("rate_limit", platform="x", path_contains=timeline, reset_in=600))
        first_run = collect(sb, settings, "x", policy)
        failed = jobs_by_account(first_run)[victim]
        assert (failed["status"], failed["error_class"]) == ("partial", "rate_limited")

        stored = [
            w
            for w in raw.read_rate_limits(settings.data_dir, "x", DAY)
            if w["account_id"] == victim and w["endpoint"] == XClient.TIMELINE
        ]
        assert [(w["scope"], w["remaining"]) for w in stored] == [("endpoint_user", 0)]
        assert stored[0]["reset_at"] == failed["reset_at"]

        sb.log.clear()
        second_run = collect(sb, settings, "x", policy)
        log = sb.requests_for("x")

    again = jobs_by_account(second_run)[victim]
    assert (again["error_class"], again["reset_at"]) == ("rate_limited", failed["reset_at"])
    assert [r for r in log if r.path == timeline] == []  # not spent on a known refusal
    assert any(r.path == f"/2/users/{victim}" for r in log)  # other endpoints: called
    assert any(r.path == f"/2/users/{other}/tweets" and r.status == 200 for r in log)
    assert jobs_by_account(second_run)[other]["status"] == "success"


def test_a_limit_of_the_last_run_resetting_soon_is_waited_for(tmp_path: Path) -> None:
    with helpers.frozen_sandbox(accounts_per_platform=2) as sb:
        settings = settings_for(sb, tmp_path)
        victim = sb.world.accounts("x")[0].account_id
        now = datetime.now(UTC)
        reset = now + timedelta(seconds=1.5)
        window = {
            "platform": "x",
            "endpoint": XClient.TIMELINE,
            "scope": "endpoint_user",
            "account_id": victim,
            "limit": 900,
            "remaining": 0,
            "reset_at": reset.isoformat(),
            "observed_at": now.isoformat(),
        }
        raw.write_rate_limits(settings.data_dir, "x", DAY - timedelta(days=1), [window])
        pull = collect(sb, settings, "x")
        log = sb.requests_for("x")

    timeline = [r for r in log if r.path == f"/2/users/{victim}/tweets"]
    assert timeline and all(r.received_at >= reset.timestamp() for r in timeline)
    job = jobs_by_account(pull)[victim]
    assert job["status"] == "success" and job["seconds_waited"] >= 1.0
    assert pull.rate_limit_waits == {"endpoint_user": 1}


def test_stored_windows_name_their_scope_and_account(tmp_path: Path) -> None:
    with helpers.frozen_sandbox(accounts_per_platform=2) as sb:
        settings = settings_for(sb, tmp_path)
        collect(sb, settings, "x")
        collect(sb, settings, "facebook")

    x_windows = raw.read_rate_limits(settings.data_dir, "x", DAY)
    accounts = {a.account_id for a in settings.accounts_for("x")}
    assert {w["scope"] for w in x_windows} == {"endpoint_user"}
    assert {w["account_id"] for w in x_windows} == accounts
    assert len(x_windows) == len({(w["endpoint"], w["account_id"]) for w in x_windows})
    # Graph reports both usages; the app's (0%) is the more used on a tie, per endpoint.
    graph = raw.read_rate_limits(settings.data_dir, "facebook", DAY)
    assert graph and {(w["scope"], w["account_id"]) for w in graph} == {("app", None)}


def test_a_linkedin_429_that_persists_is_the_apps_daily_quota_for_every_account(
    tmp_path: Path,
) -> None:
    # Short protection 429s back off (app-wide); one that persists past the retries is
    # the daily quota, so accounts not yet started fail at once with the same reset.
    with helpers.frozen_sandbox(accounts_per_platform=8) as sb:
        sb.inject(Fault("rate_limit", platform="linkedin", times=100))
        pull = collect(sb, settings_for(sb, tmp_path), "linkedin")
        log = sb.requests_for("linkedin")

    resets = {j["reset_at"] for j in pull.jobs}
    assert {j["error_class"] for j in pull.jobs} == {"rate_limited"}
    (reset,) = resets
    assert datetime.fromisoformat(reset).time() == datetime.min.time()  # midnight UTC
    # Only the accounts under way when the quota showed were ever asked for.
    assert len(log) <= WORKERS * (helpers.fast_policy().max_retries + 1)
    assert all(r.status == 429 for r in log)


def test_rate_limit_waits_are_logged_without_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="social_pipeline")
    with helpers.frozen_sandbox(accounts_per_platform=2) as sb:
        settings = settings_for(sb, tmp_path)
        sb.inject(Fault("rate_limit", platform="youtube", reset_in=1.2))
        pull = collect(sb, settings, "youtube")

    waited = [j for j in pull.jobs if j["seconds_waited"] > 0]
    assert waited and all(j["retries"] >= 1 for j in waited)
    assert pull.rate_limit_waits.get("app", 0) >= 1
    on_disk = raw.read_jobs(settings.data_dir, "youtube", DAY)
    assert sum(j["seconds_waited"] for j in on_disk) == pytest.approx(
        sum(j["seconds_waited"] for j in pull.jobs)
    )
    messages = [r.getMessage() for r in caplog.records]
    assert any("youtube" in m and "app-scoped" in m for m in messages)
    assert not any(SANDBOX_DEFAULT_TOKEN in m for m in messages)


@pytest.mark.parametrize(
    ("platform", "config", "scope"),
    [
        ("facebook", {"app_rate_limit": 1}, "app"),  # code 4, every token
        ("facebook", {"user_rate_limit": 1}, "user"),  # code 17
        ("instagram", {"page_rate_limit": 1}, "page"),  # 80002 and an exhausted BUC header
        ("x", {"rate_limit": 1}, "endpoint_user"),  # x-rate-limit-remaining: 0
        ("tiktok", {"endpoint_rate_limit": 1}, "endpoint"),  # bare 429
        ("youtube", {"app_rate_limit": 1}, "app"),  # the project's quotaExceeded
        ("linkedin", {"app_rate_limit": 1}, "app"),  # the app's daily quota
    ],
)
def test_each_platforms_limit_is_reported_with_its_scope(
    platform: str, config: dict[str, int], scope: str
) -> None:
    with helpers.frozen_sandbox(**config) as sb:
        client = helpers.make_client(
            sb, platform, policy=helpers.fast_policy(max_rate_limit_wait=1.0)
        )
        client.fetch_profile()
        with pytest.raises(RateLimited) as caught:
            client.fetch_profile()
    assert caught.value.scope == scope
    assert caught.value.reset_at is not None


def test_the_emulator_meters_pages_and_endpoints_apart() -> None:
    with helpers.frozen_sandbox(page_rate_limit=1, endpoint_rate_limit=1) as sb:
        first, second = (a.account_id for a in sb.world.accounts("facebook"))
        for page in (first, first, second):
            sb.grant("facebook", "one-token", page)
            requests.get(
                f"{sb.base_url('facebook')}/v24.0/{page}",
                headers={"Authorization": "Bearer one-token"},
                timeout=5,
            )
        one, two = (a.account_id for a in sb.world.accounts("tiktok"))
        for account_id, path in [(one, "user/info/"), (two, "user/info/"), (one, "video/list/")]:
            sb.grant("tiktok", f"act.{account_id}", account_id)
            requests.request(
                "GET" if "info" in path else "POST",
                f"{sb.base_url('tiktok')}/v2/{path}",
                params={"fields": "open_id" if "info" in path else "id"},
                headers={"Authorization": f"Bearer act.{account_id}"},
                json={} if "list" in path else None,
                timeout=5,
            )
    graph = [r.status for r in sb.requests_for("facebook")]
    assert graph == [200, 400, 200]  # the second Page is not the first one's limit
    statuses = [(r.path, r.status) for r in sb.requests_for("tiktok")]
    # The second account's profile shares the endpoint's minute; the listing does not.
    assert statuses == [("/v2/user/info/", 200), ("/v2/user/info/", 429), ("/v2/video/list/", 200)]


def test_scopes_cover_what_they_say_and_nothing_else() -> None:
    limits = RateLimitCoordinator("x")
    until = datetime.now(UTC) + timedelta(seconds=30)
    limits.block("endpoint_user", "GET /a", "1", until, "t")
    limits.block("page", "GET /b", "2", until, "t")
    assert limits.blocking("GET /a", "1") is not None
    assert limits.blocking("GET /a", "3") is None  # another account
    assert limits.blocking("GET /b", "1") is None  # another endpoint
    assert limits.blocking("GET /anything", "2") is not None  # the Page, every endpoint
    limits.block("endpoint", "GET /d", "3", until, "t")
    assert limits.blocking("GET /d", "4") is not None  # every account
    assert limits.blocking("GET /e", "3") is None
    limits.block("app", "GET /c", "3", until + timedelta(seconds=5), "t")
    held = limits.blocking("GET /e", "9")
    assert held is not None and held.scope == "app"
    assert limits.blocks() and not RateLimitCoordinator("x").blocks()


def test_the_raw_asset_reports_rate_limit_waits_per_scope(
    deployment: helpers.Deployment,
) -> None:
    d = deployment
    victim = d.sandbox.world.accounts("facebook")[0].account_id
    d.sandbox.inject(
        Fault("rate_limit", platform="facebook", path_contains=f"/{victim}", reset_in=0.5)
    )
    day = datetime(2026, 11, 19, tzinfo=UTC).date()
    result = d.materialize(day, "raw_facebook")
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["rate_limit_waits_page"].value == 1
    assert "rate_limit_waits_app" not in metadata
    assert metadata["accounts_ok"].value == 2
