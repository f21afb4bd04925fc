"""Throughput of a collection day against the emulator, printed as numbers.

    .venv/bin/python scripts/benchmark.py [accounts per platform, default 200] [latency ms, default 20]

Starts the emulator in its own process (`social-pipeline sandbox`, with added latency per
answer, like a nearby API), collects one day for every account of the six platforms
twice, with 1 and with 4 worker threads per platform, then normalizes the day into the
lake and rebuilds the warehouse. Ratios compare runs made in the same invocation.
What storing a day costs (against a naive DuckDB load, in memory, on day 365) is
`scripts/benchmark_store.py`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.environment import load_environment
from social_pipeline.operations.collect import collect_platform
from social_pipeline.operations.store import store_day
from social_pipeline.storage.warehouse import build_warehouse


def main() -> None:
    per_platform = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    latency_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    day = datetime.now(UTC).date() - timedelta(days=1)
    command = [sys.executable, "-m", "social_pipeline.app.cli", "sandbox"]
    command += ["--accounts", str(per_platform), "--latency-ms", str(latency_ms)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_urls = read_base_urls(server)
        print(
            f"{per_platform} accounts per platform ({6 * per_platform} in all), day {day}, "
            f"emulator in its own process, {latency_ms:g} ms latency per answer"
        )
        with tempfile.TemporaryDirectory() as tmp:
            timings = {
                w: collect_all(per_platform, day, base_urls, Path(tmp) / f"w{w}", w) for w in (1, 4)
            }
            print(f"\nspeed-up of 4 workers over 1: {timings[1] / timings[4]:.2f}x")
            store_and_build(Path(tmp) / "w4", day)
    finally:
        server.terminate()
        server.wait(timeout=10)


def read_base_urls(server: subprocess.Popen[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    assert server.stdout is not None
    while len(urls) < len(PLATFORMS):
        line = server.stdout.readline()
        if not line:
            raise RuntimeError("the emulator exited before printing its base URLs")
        if line.startswith("export "):
            name, _, url = line.removeprefix("export ").strip().partition("=")
            urls[name] = url
    return urls


def collect_all(
    per_platform: int, day: date, base_urls: dict[str, str], data_dir: Path, workers: int
) -> float:
    env = {
        **base_urls,
        "SOCIAL_PIPELINE_DATA_DIR": str(data_dir),
        "SOCIAL_PIPELINE_SANDBOX_ACCOUNTS": str(per_platform),
    }
    settings = load_environment(env)
    print(f"\nworkers per platform: {workers}")
    print(
        f"{'platform':<10} {'accounts':>8} {'calls':>7} {'seconds':>8} {'accounts/s':>11} {'calls/s':>8}"
    )
    total = 0.0
    for platform in PLATFORMS:
        started = time.perf_counter()
        pull = collect_platform(
            settings, platform, day, base_url=settings.base_urls[platform], workers=workers
        )
        seconds = time.perf_counter() - started
        total += seconds
        calls = int(pull.total("api_calls"))
        assert not pull.failed, pull.failed[:1]
        print(
            f"{platform:<10} {len(pull.jobs):>8} {calls:>7} {seconds:>8.2f} "
            f"{len(pull.jobs) / seconds:>11.1f} {calls / seconds:>8.0f}"
        )
    print(
        f"{'all':<10} {6 * per_platform:>8} {'':>7} {total:>8.2f} {6 * per_platform / total:>11.1f}"
    )
    return total


def store_and_build(data_dir: Path, day: date) -> None:
    started = time.perf_counter()
    stored = store_day(data_dir, day)
    normalize_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = build_warehouse(data_dir)
    build_s = time.perf_counter() - started
    rows = stored.frames.engagement.height
    print(
        f"normalize + lake: {stored.frames.posts.height} posts, {rows} snapshots in "
        f"{normalize_s:.2f} s ({rows / normalize_s:,.0f} rows/s)"
    )
    print(
        f"warehouse rebuild: {build_s:.2f} s ({summary.row_counts['engagement_snapshots']:,} snapshot rows)"
    )


if __name__ == "__main__":
    main()
