"""What storing a day costs: speed against a naive DuckDB load, memory, and history.

    .venv/bin/python scripts/benchmark_store.py [--accounts 6000] [--history-days 365]
        [--history-accounts 120,600] [--big-posts 1000000] [--latency-ms 0] [--keep DIR]

One run prints, side by side:
- collect: a sandbox day of `--accounts` accounts (spread over the six platforms), the
  emulator in its own process, 4 workers per platform;
- speed: raw -> lake -> warehouse (`store_day` + `build_warehouse`) in rows/s against a
  naive DuckDB load of the same raw pages (`read_json` over the day's `*.jsonl.gz`,
  each platform's posts unnested into a table), and their ratio;
- memory: the RSS high-water of storing the day at 1/4, 1/2 and all of the accounts, and
  of one X account with `--big-posts` posts in its window (a pull written synthetically
  in X's wire shape, cloned from an emulator page);
- history: store + warehouse build on day 1 and on day `--history-days`, the earlier days
  laid into the lake by copying the day's partitions under earlier dates (no collecting);
  each day measured as the runs after its first (an hourly re-run), so the two days run
  the same steps and differ only in the history behind them.

Every store, load and build runs in a child process of its own, so the RSS high-water of
one phase is not hidden by an earlier one; the ratios compare runs of one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

# The emulator's base URLs as `social-pipeline sandbox` prints them (a sibling script).
from benchmark import read_base_urls  # noqa: E402

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.window import DEFAULT_WINDOW_DAYS, CollectionWindow
from social_pipeline.environment import load_environment
from social_pipeline.operations.collect import collect_platform
from social_pipeline.storage import lake, raw

# Where a `posts` page keeps its items, per platform: what the naive load unnests.
POSTS_PATH = {
    "facebook": "body.data",
    "instagram": "body.data",
    "x": "body.data",
    "linkedin": "body.elements",
    "youtube": "body.items",
    "tiktok": "body.data.videos",
}
MIB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=6000, help="in all, over six platforms")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--history-days", type=int, default=365)
    parser.add_argument(
        "--history-accounts", default="120,600", help="one or more counts, comma-separated"
    )
    parser.add_argument("--big-posts", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="work here and keep it (reuses a landed day)")
    parser.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)  # child: phase dir day
    args = parser.parse_args()
    if args.phase:
        return run_phase(args.phase[0], Path(args.phase[1]), date.fromisoformat(args.phase[2]))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return benchmark(args, args.keep)
    with tempfile.TemporaryDirectory() as tmp:
        benchmark(args, Path(tmp))


def benchmark(args: argparse.Namespace, work: Path) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    per_platform = max(1, args.accounts // len(PLATFORMS))
    full = work / f"day-{per_platform}"
    print(f"{per_platform * 6} accounts ({per_platform} per platform), day {day}, 2 cores")
    if not any((full / "raw").glob("*/date=*/*.jsonl.gz")):
        seconds = collect_day(full, day, per_platform, args.latency_ms)
        print(f"collect: {seconds:.1f} s ({per_platform * 6 / seconds:.1f} accounts/s)")
    else:
        seconds = float("nan")
        print(f"collect: reusing the landed day in {full}")

    store = child("store", full, day)
    naive = child("naive", full, day)
    total = seconds + store["seconds"]
    print("\nspeed (child process each; rows = engagement snapshot rows, posts for naive)")
    print(f"{'':<26} {'rows':>9} {'seconds':>8} {'cpu s':>7} {'rows/s':>9} {'peak MiB':>9}")
    for name, result in (("raw -> lake -> warehouse", store), ("naive DuckDB read_json", naive)):
        print(
            f"{name:<26} {result['rows']:>9,} {result['seconds']:>8.2f} {result['cpu_s']:>7.1f} "
            f"{result['rows'] / result['seconds']:>9,.0f} {result['peak_mib']:>9.0f}"
        )
    print(f"  of which lake {store['store_s']:.2f} s, warehouse {store['build_s']:.2f} s")
    # The naive load keeps every listed item (out-of-window and repeated ones too), the
    # pipeline only the day's posts: the same pages in, so time is the fair measure.
    print(
        f"speed pipeline / naive, same raw pages: {naive['seconds'] / store['seconds']:.2f}x "
        f"(rows/s: {store['rows'] * naive['seconds'] / (naive['rows'] * store['seconds']):.2f}x; "
        "goal >= 1.0x, aim 2x)"
    )
    if seconds == seconds:  # not NaN: collected in this run
        print(f"collect + store + load: {total:.1f} s (goal < 600 s)")

    print("\nmemory: RSS high-water of storing the day (goal <= 1024 MiB, flat)")
    for share in (4, 2):
        subset = subset_day(full, work / f"day-{per_platform // share}", day, per_platform // share)
        result = child("lake", subset, day)
        print(f"  {per_platform // share * 6:>6} accounts: {result['peak_mib']:>6.0f} MiB")
    result = child("lake", full, day)
    print(f"  {per_platform * 6:>6} accounts: {result['peak_mib']:>6.0f} MiB")
    if args.big_posts:
        big = big_account_day(full, work / "big", day, args.big_posts)
        result = child("lake", big, day)
        print(
            f"  1 X account, {result['rows']:,} posts: {result['peak_mib']:.0f} MiB, "
            f"{result['seconds']:.1f} s"
        )

    if args.history_days > 1:
        for accounts in args.history_accounts.split(","):
            history(full, work, day, args.history_days, max(1, int(accounts) // 6))


def history(full: Path, work: Path, day: date, days: int, per_platform: int) -> None:
    """The same run on day 1 (an empty lake) and on day `days` (a lake of history): the
    day stored and the warehouse built again, as an hourly re-run does, after a first
    run that made the warehouse. Each the median of `HISTORY_RUNS` runs: a second of
    work moves with the machine's load."""
    first = subset_day(full, work / f"history-1-{per_platform}", day, per_platform)
    warm_one = child("store", first, day)  # day 1's first run: also gives the partitions
    late = subset_day(full, work / f"history-{days}-{per_platform}", day, per_platform)
    started = time.perf_counter()
    lay_history(first, late, day, days - 1)
    laid = time.perf_counter() - started
    # As a running install stands on day N: the warehouse built after every day, and the
    # index of earlier posts left by day N-1's run (`posts_seen`). A first store + build
    # over the laid history makes both (a first build reads the whole history once).
    warm = child("store", late, day)
    # Alternated, so a change in the machine's load weighs on both days alike.
    ones, lasts = [], []
    for _ in range(HISTORY_RUNS):
        ones.append(child("store", first, day))
        lasts.append(child("store", late, day))
    one, last = _median(ones), _median(lasts)
    print(
        f"\nhistory: {per_platform * 6} accounts, {days - 1} earlier days laid in {laid:.1f} s "
        f"(goal: day-N / day-1 <= 1.2)"
    )
    print(
        f"first run, no warehouse yet: day 1 {warm_one['seconds']:.2f} s (warehouse "
        f"{warm_one['build_s']:.2f} s), day {days} {warm['seconds']:.1f} s (warehouse "
        f"{warm['build_s']:.1f} s: the whole history read once)"
    )
    print(f"runs after the first (store the day again, build), median of {HISTORY_RUNS}:")
    print(f"{'':<10} {'lake s':>8} {'warehouse s':>12} {'total s':>8} {'peak MiB':>9}")
    for name, result in (("day 1", one), (f"day {days}", last)):
        print(
            f"{name:<10} {result['store_s']:>8.2f} {result['build_s']:>12.2f} "
            f"{result['seconds']:>8.2f} {result['peak_mib']:>9.0f}"
        )
    print(
        f"day {days} / day 1: lake {last['store_s'] / one['store_s']:.2f}x, warehouse "
        f"{last['build_s'] / one['build_s']:.2f}x, total {last['seconds'] / one['seconds']:.2f}x"
    )


HISTORY_RUNS = 5


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def collect_day(data_dir: Path, day: date, per_platform: int, latency_ms: float) -> float:
    command = [sys.executable, "-m", "social_pipeline.app.cli", "sandbox"]
    command += ["--accounts", str(per_platform), "--latency-ms", str(latency_ms)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        urls = read_base_urls(server)
        env = {
            **urls,
            "SOCIAL_PIPELINE_DATA_DIR": str(data_dir),
            "SOCIAL_PIPELINE_SANDBOX_ACCOUNTS": str(per_platform),
        }
        settings = load_environment(env)
        started = time.perf_counter()
        for platform in PLATFORMS:
            pull = collect_platform(
                settings, platform, day, base_url=settings.base_urls[platform], workers=4
            )
            assert not pull.failed, pull.failed[:1]
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)


def subset_day(full: Path, target: Path, day: date, per_platform: int) -> Path:
    """A data dir holding the first `per_platform` landed pulls of each platform (links)."""
    if target == full:
        return full
    shutil.rmtree(target, ignore_errors=True)
    for platform in PLATFORMS:
        source = raw.partition_dir(full, platform, day)
        folder = raw.partition_dir(target, platform, day)
        folder.mkdir(parents=True)
        for path in sorted(source.glob("*.jsonl.gz"))[:per_platform]:
            os.link(path, folder / path.name)
    return target


def big_account_day(full: Path, target: Path, day: date, posts: int) -> Path:
    """One X account whose window holds `posts` tweets, in X's wire shape (100 a page)."""
    shutil.rmtree(target, ignore_errors=True)
    source = sorted(raw.partition_dir(full, "x", day).glob("*.jsonl.gz"))[0]
    pull = raw.read_pull(source, "x")
    page = next(r for r in pull.records if r.get("kind") == "posts" and r["body"].get("data"))
    profile = next(r for r in pull.records if r.get("kind") == "profile")
    template = page["body"]["data"][0]
    span = (pull.window_end - pull.window_start).total_seconds()

    def pages():  # noqa: ANN202
        yield profile
        for start in range(0, posts, 100):
            tweets = []
            for n in range(start, min(start + 100, posts)):
                created = pull.window_start + timedelta(seconds=span * n / posts)
                stamp = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                tweets.append({**template, "id": str(10**15 + n), "created_at": stamp})
            yield {**page, "body": {**page["body"], "data": tweets}}

    header = {
        "platform": "x",
        "account_id": pull.account_id,
        "partition_date": day.isoformat(),
        "window_start": pull.window_start.isoformat(),
        "window_end": pull.window_end.isoformat(),
        "collected_at": pull.collected_at.isoformat(),
        "job_id": "benchmark-big",
        "status": "success",
    }
    raw.write_pull(
        raw.pull_path(raw.partition_dir(target, "x", day), pull.account_id), header, pages()
    )
    return target


def lay_history(first: Path, target: Path, day: date, days: int) -> None:
    """`days` earlier days in `target`'s lake, made from day 1's partitions.

    Each post of day 1 (created t) stands for a post every window length W before it (id
    `<id>~k`, created t - k*W): on each earlier day, the one created inside that day's
    window shows, so a post shows on the W days after its creation and no other, as
    collected posts do, a day holds one window of posts, and a year a year of distinct
    posts. Day 1's own posts keep their ids on the days after they were created.
    """
    posts = lake.read_table(first, "posts", [day])
    window = DEFAULT_WINDOW_DAYS  # what the sandbox day was collected with
    end_of_day = pl.lit(CollectionWindow(day).end).cast(pl.Datetime("us", "UTC"))
    created = posts.select("platform", "post_id", pl.col("created_at").alias("_created"))
    for table in lake.LAKE_TABLES:
        frame = lake.read_table(first, table, [day])
        per_post = "post_id" in frame.columns
        if per_post:
            frame = frame.join(created, on=["platform", "post_id"], how="left")
        for back in range(1, days + 1):
            earlier = day - timedelta(days=back)
            shifted = frame.with_columns(
                pl.lit(earlier).alias(c)
                for c in ("snapshot_date", "partition_date")
                if c in frame.columns
            )
            if per_post:
                # Days from creation to the end of day 1; the day `back` days before ends
                # `back` days earlier, and shows the post of the family created in its window.
                age = (end_of_day - pl.col("_created")).dt.total_microseconds() / 86_400e6
                k = (((back - age) / window).floor() + 1).clip(lower_bound=0)
                k = k.fill_null(0).cast(pl.Int64)
                shifted = shifted.with_columns(
                    pl.when(k == 0)
                    .then(pl.col("post_id"))
                    .otherwise(pl.col("post_id") + "~" + k.cast(pl.String))
                    .alias("post_id"),
                    *(
                        [(pl.col("created_at") - pl.duration(days=k * window)).alias("created_at")]
                        if "created_at" in frame.columns
                        else []
                    ),
                )
            lake.write_partition(target, table, earlier, shifted.drop("_created", strict=False))


def child(phase: str, data_dir: Path, day: date) -> dict[str, float]:
    """Run `phase` in a fresh interpreter; its timings and RSS high-water."""
    command = [sys.executable, __file__, "--phase", phase, str(data_dir), day.isoformat()]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_phase(phase: str, data_dir: Path, day: date) -> None:
    from social_pipeline.operations.store import store_day
    from social_pipeline.storage.warehouse import build_warehouse

    result: dict[str, float] = {}
    started = time.perf_counter()
    if phase in ("store", "lake"):
        stored = store_day(data_dir, day)
        result["store_s"] = time.perf_counter() - started
        result["rows"] = stored.frames.engagement.height
        if phase == "store":
            build_warehouse(data_dir)
        result["build_s"] = time.perf_counter() - started - result["store_s"]
    elif phase == "build":
        build_warehouse(data_dir)
        result["build_s"] = time.perf_counter() - started
    elif phase == "naive":
        result["rows"] = naive_load(data_dir, day)
    result["seconds"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["peak_mib"] = peak_rss() / MIB
    print(json.dumps(result))


def peak_rss() -> int:
    """This process's RSS high-water in bytes. Linux's `VmHWM` where there is one:
    `ru_maxrss` of a child started by fork and exec reports the parent's peak if higher."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def naive_load(data_dir: Path, day: date) -> int:
    """The day's raw pages into DuckDB with `read_json`, each platform's posts unnested."""
    import duckdb

    path = data_dir / "naive.duckdb"
    path.unlink(missing_ok=True)
    rows = 0
    with duckdb.connect(str(path)) as con:
        for platform in PLATFORMS:
            files = str(raw.partition_dir(data_dir, platform, day) / "*.jsonl.gz")
            source = (
                f"FROM read_json('{files}', format = 'newline_delimited', union_by_name = true, "
                "maximum_object_size = 1073741824) WHERE kind = 'posts'"
            )
            items = POSTS_PATH[platform]
            try:  # the items' columns, as DuckDB infers them
                con.execute(
                    f"CREATE TABLE posts_{platform} AS SELECT unnest({items}, recursive := true) "
                    + source
                )
            except duckdb.BinderException:  # inferred as JSON (pages of several shapes)
                con.execute(
                    f"CREATE TABLE posts_{platform} AS SELECT unnest(CAST({items} AS JSON[])) "
                    "AS item " + source
                )
            rows += con.execute(f"SELECT count(*) FROM posts_{platform}").fetchone()[0]
    path.unlink(missing_ok=True)
    return rows


if __name__ == "__main__":
    main()
