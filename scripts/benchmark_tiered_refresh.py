"""What age-tiered refresh saves: calls and X post reads over consecutive days, printed.

    .venv/bin/python scripts/benchmark_tiered_refresh.py [days, default 14] [tier, default 3,7]

Collects X and YouTube for the sandbox's accounts on `days` consecutive days twice, in
one invocation: without tiers (every post of the 28-day window read every day) and with
SOCIAL_PIPELINE_<PLATFORM>_TIERED_REFRESH=<tier>. Each day is normalized into the lake,
which is what the next day's plan reads. X bills each post read (about $0.005) and each
user read (about $0.010), deduplicated within a UTC day (platform-apis.md §8); the cost
printed is that estimate for the posts and profiles the landed responses hold.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from social_pipeline.environment import load_environment
from social_pipeline.operations.collect import collect_platform
from social_pipeline.operations.store import store_day
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.storage import raw

PLATFORMS = ("x", "youtube")
X_POST_READ = 0.005
X_USER_READ = 0.010
FIRST_DAY = date(2026, 11, 1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.combine(FIRST_DAY, time(6), tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def run(days: int, tier: str | None, data_dir: Path) -> dict[str, dict[str, float]]:
    clock = Clock()
    totals = {p: {"calls": 0.0, "posts_read": 0.0, "account_days": 0.0} for p in PLATFORMS}
    with Sandbox(SandboxConfig(), clock=clock) as sb:
        env = {
            "SOCIAL_PIPELINE_DATA_DIR": str(data_dir),
            **{f"SOCIAL_PIPELINE_{p.upper()}_BASE_URL": sb.base_url(p) for p in PLATFORMS},
        }
        if tier:
            env |= {f"SOCIAL_PIPELINE_{p.upper()}_TIERED_REFRESH": tier for p in PLATFORMS}
        settings = load_environment(env)
        for n in range(days):
            day = FIRST_DAY + timedelta(days=n)
            clock.now = datetime.combine(day + timedelta(days=1), time(6), tzinfo=UTC)
            for platform in PLATFORMS:
                pull = collect_platform(
                    settings, platform, day, base_url=settings.base_urls[platform]
                )
                assert not pull.failed, pull.failed[:1]
                totals[platform]["calls"] += pull.total("api_calls")
                totals[platform]["account_days"] += len(pull.jobs)
                totals[platform]["posts_read"] += posts_read(data_dir, platform, day)
            store_day(data_dir, day)
    return totals


def posts_read(data_dir: Path, platform: str, day: date) -> int:
    """Posts (tweets, videos) the landed listing and look-up responses of `day` hold."""
    read = 0
    for pull in raw.read_pulls(data_dir, platform, day):
        for record in pull.records:
            body = record.get("body")
            if record.get("kind") in ("posts", "metrics") and isinstance(body, dict):
                read += len(body.get("data") or body.get("items") or [])
    return read


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 14
    tier = sys.argv[2] if len(sys.argv) > 2 else "3,7"
    print(f"{days} collection days from {FIRST_DAY}, sandbox accounts, 28-day window")
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "every post daily": run(days, None, Path(tmp) / "flat"),
            f"tiered {tier}": run(days, tier, Path(tmp) / "tiered"),
        }
    print(
        f"\n{'mode':<18} {'platform':<8} {'calls/acct-day':>14} {'posts read/acct-day':>20}"
        f" {'X cost/acct-day':>16}"
    )
    for mode, totals in results.items():
        for platform, t in totals.items():
            per = t["account_days"]
            cost = ""
            if platform == "x":
                cost = f"${(t['posts_read'] * X_POST_READ + per * X_USER_READ) / per:.3f}"
            print(
                f"{mode:<18} {platform:<8} {t['calls'] / per:>14.2f} {t['posts_read'] / per:>20.1f}"
                f" {cost:>16}"
            )
    flat, tiered = results.values()
    for platform in PLATFORMS:
        print(
            f"{platform}: tiered refresh reads {tiered[platform]['posts_read'] / flat[platform]['posts_read']:.0%} "
            f"of the posts and makes {tiered[platform]['calls'] / flat[platform]['calls']:.0%} of the calls"
        )


if __name__ == "__main__":
    main()
