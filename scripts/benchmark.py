"""Throughput of a collection day against the emulator, printed as numbers.

    .venv/bin/python scripts/benchmark.py [accounts per platform, default 200]

Collects one day for every sandbox account (six platforms) twice, with 1 and with 4
worker threads per platform, then normalizes the day into the lake and rebuilds the
warehouse. Ratios are from the same run, so they compare like with like.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from social_pipeline.collect import collect_platform
from social_pipeline.platforms import PLATFORMS
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.settings import load_settings
from social_pipeline.store import store_day
from social_pipeline.warehouse import build_warehouse


def main() -> None:
    per_platform = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    day = datetime.now(UTC).date() - timedelta(days=1)
    with (
        Sandbox(SandboxConfig(accounts_per_platform=per_platform)) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(f"{per_platform} accounts per platform ({6 * per_platform} in all), day {day}")
        timings = {}
        for workers in (1, 4):
            data_dir = Path(tmp) / f"w{workers}"
            env = {
                **sandbox.env(),
                "SOCIAL_PIPELINE_DATA_DIR": str(data_dir),
                "SOCIAL_PIPELINE_SANDBOX_ACCOUNTS": str(per_platform),
            }
            settings = load_settings(env)
            print(f"\nworkers per platform: {workers}")
            print(
                f"{'platform':<10} {'accounts':>8} {'calls':>7} {'seconds':>8} {'accounts/s':>11} {'calls/s':>8}"
            )
            total = 0.0
            for platform in PLATFORMS:
                started = time.perf_counter()
                pull = collect_platform(
                    settings, platform, day, base_url=sandbox.base_url(platform), workers=workers
                )
                seconds = time.perf_counter() - started
                total += seconds
                calls = int(pull.total("api_calls"))
                assert not pull.failed, pull.failed[:1]
                print(
                    f"{platform:<10} {len(pull.jobs):>8} {calls:>7} {seconds:>8.2f} "
                    f"{len(pull.jobs) / seconds:>11.1f} {calls / seconds:>8.0f}"
                )
            timings[workers] = total
            print(
                f"{'all':<10} {6 * per_platform:>8} {'':>7} {total:>8.2f} {6 * per_platform / total:>11.1f}"
            )
        print(f"\nspeed-up of 4 workers over 1: {timings[1] / timings[4]:.2f}x")

        started = time.perf_counter()
        stored = store_day(data_dir, day)
        normalize_s = time.perf_counter() - started
        started = time.perf_counter()
        summary = build_warehouse(data_dir)
        build_s = time.perf_counter() - started
        print(
            f"normalize + lake: {stored.frames.posts.height} posts, {stored.frames.engagement.height} "
            f"snapshots in {normalize_s:.2f} s ({stored.frames.engagement.height / normalize_s:,.0f} rows/s)"
        )
        print(
            f"warehouse rebuild: {build_s:.2f} s ({summary.row_counts['engagement_snapshots']:,} snapshot rows)"
        )


if __name__ == "__main__":
    main()
