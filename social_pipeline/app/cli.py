"""`social-pipeline`: collect a day through Dagster, and read the warehouse from a shell."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import polars as pl

from social_pipeline.app import views
from social_pipeline.clients.errors import ApiError
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import START_DATE_ENV, Settings, SettingsError, check_tokens
from social_pipeline.environment import load_environment
from social_pipeline.operations.run_status import collected_nothing, jobs_of_run

EXAMPLE_QUERY = """SELECT platform,
       count(*)                          AS posts,
       sum(likes)::BIGINT               AS likes,
       round(avg(engagement_rate), 5)    AS avg_engagement_rate
FROM post_engagement_metrics
GROUP BY platform
ORDER BY platform"""


# `collect` exit codes (also in `--help` and the README).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_CODES = (
    "exit codes: 0 every account collected; 1 the run failed or no account was collected; "
    "2 a usage or configuration error (nothing ran); 3 partial: some accounts failed, the "
    "others were collected"
)
# A value for these options may start with "-" (TikTok open ids do): `--account=-000…`.
DASH_VALUE_OPTIONS = ("--account",)
_DASH_ID = re.compile(r"^-[0-9A-Za-z_][0-9A-Za-z_.-]{3,}$")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(join_dash_values(sys.argv[1:] if argv is None else argv))
    try:
        return args.run(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:  # a platform refused (e.g. a login's code); the message is redacted
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """`--account -000abc` as `--account=-000abc`: argparse takes a leading "-" for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in DASH_VALUE_OPTIONS and _DASH_ID.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _version() -> str:
    try:
        return version("social-pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="social-pipeline", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(required=True, metavar="command")

    collect = sub.add_parser(
        "collect",
        help="collect a day (all assets) through Dagster",
        description="Collect a day (all assets) through Dagster; the run shows in the UI. "
        "Ends by listing the accounts that failed, with the reason.",
        epilog=EXIT_CODES,
    )
    collect.add_argument(
        "--date", type=_day, help="collection day, YYYY-MM-DD (default: yesterday, UTC)"
    )
    collect.add_argument(
        "--platform", action="append", choices=PLATFORMS, help="only this platform (repeatable)"
    )
    collect.add_argument(
        "--account",
        action="append",
        help="only this account id (repeatable; an id starting with - as --account=-000…)",
    )
    collect.set_defaults(run=_collect)

    for name, text in (
        ("posts", "posts with their latest metrics"),
        ("followers", "an account's daily follower history"),
        ("jobs", "collection attempts, newest first"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument(
            "--account", help="only this account id (an id starting with - as --account=-000…)"
        )
        cmd.add_argument(
            "--platform", action="append", choices=PLATFORMS, help="only this platform (repeatable)"
        )
        cmd.add_argument(
            "--since", type=_day, help=f"only rows on or after this day ({views.SINCE[name]})"
        )
        cmd.add_argument("--format", choices=("table", "csv", "json"), default="table")
        cmd.add_argument("--limit", type=int, default=50, help="at most this many rows (0: all)")
        cmd.set_defaults(run=_show, table=name)

    letters = sub.add_parser("dead-letters", help="collections that failed past the retry limit")
    letters.add_argument("--all", action="store_true", help="include resolved ones")
    letters.add_argument("--format", choices=("table", "csv", "json"), default="table")
    letters.set_defaults(run=_dead_letters)

    replay = sub.add_parser("replay", help="collect dead-lettered accounts again (through Dagster)")
    replay.add_argument("--platform", choices=PLATFORMS)
    replay.add_argument("--account", help="only this account id")
    replay.set_defaults(run=_replay)

    sandbox = sub.add_parser("sandbox", help="serve the six-API emulator until interrupted")
    sandbox.add_argument("--port", type=int, default=0, help="0: any free port")
    sandbox.add_argument("--accounts", type=int, default=2, help="accounts per platform")
    sandbox.add_argument("--posts-per-day", type=float, default=2.0)
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    sandbox.add_argument("--rate-limit", type=int, default=100_000, help="requests per window")
    sandbox.add_argument("--rate-limit-window", type=float, default=900.0, help="seconds")
    sandbox.set_defaults(run=_sandbox)

    check = sub.add_parser("check", help="validate the accounts file and token variables")
    check.add_argument(
        "--live",
        action="store_true",
        help="also call each platform once per account (its profile) and per app, where an "
        "app has a cheap call, and show which credentials work",
    )
    check.set_defaults(run=_check)

    auth = sub.add_parser("auth", help="credentials: expiry and health, or a browser login")
    auth_sub = auth.add_subparsers(required=True, metavar="action")
    status = auth_sub.add_parser(
        "status", help="per account: kind, expiries, last refresh, next step"
    )
    status.add_argument("--format", choices=("table", "csv", "json"), default="table")
    status.set_defaults(run=_auth_status)
    login = auth_sub.add_parser(
        "login", help="authorize an account in the browser and store its tokens"
    )
    login.add_argument("platform", choices=PLATFORMS)
    login.add_argument("--account", required=True, help="the account id (--account=-000… works)")
    login.add_argument("--port", type=int, default=0, help="loopback port for the redirect")
    login.add_argument("--no-browser", action="store_true", help="print the address only")
    login.set_defaults(run=_auth_login)

    ui = sub.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on this project")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(run=_ui)
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def dagster_home() -> Path:
    """$DAGSTER_HOME, else the folder holding this project's dagster.yaml (history persists)."""
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if home:
        path = Path(home).absolute()
    elif Path("dagster.yaml").exists():
        path = Path.cwd()
    else:
        path = Path(".dagster_home").absolute()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(path)
    return path


def _collect(args: argparse.Namespace) -> int:
    from social_pipeline.app.launch import run_collection

    settings = load_environment()
    today = datetime.now(UTC).date()
    day = args.date or (today - timedelta(days=1))
    if not settings.start_date <= day <= today:
        raise SettingsError(
            f"{day} is outside the collection days, {settings.start_date} "
            f"({START_DATE_ENV}) to {today} (today, UTC); pick a day in that range"
            + (f", or set {START_DATE_ENV} earlier" if day < settings.start_date else "")
        )
    for account_id in args.account or ():
        known_account(settings, account_id, args.platform or ())
    home = dagster_home()
    where = settings.accounts_file or "built-in sandbox (no credentials needed)"
    print(f"Collecting {day} for {where}; Dagster history in {home}")
    result = run_collection(
        settings, day, platforms=args.platform or (), accounts=args.account or ()
    )
    print(result.report())
    if result.warehouse.exists():
        print(f"\nWarehouse: {result.warehouse}")
        print(f"Example query (duckdb {result.warehouse} -readonly):\n{EXAMPLE_QUERY};\n")
        from social_pipeline.storage.warehouse import query

        example = query(settings.warehouse, EXAMPLE_QUERY)
        width = shutil.get_terminal_size((120, 24)).columns
        sys.stdout.write(views.render_table(example, width=width))
    jobs = jobs_of_run(settings.data_root, day, result.run_id)
    failed = [j for j in jobs if j["status"] != "success"]
    collected = len(jobs) - len(failed)
    print(f"\nAccounts: {collected} of {len(jobs)} collected, {len(failed)} failed")
    if failed:
        print("Failed accounts (reasons are redacted; `social-pipeline jobs` keeps them):")
        for job in failed:
            print(
                f"  {job['platform']:<10} {job['account_id']}  {job.get('error_class') or '?'}: "
                f"{job.get('error') or job['status']}"
            )
    if not result.success or collected_nothing(jobs):
        return EXIT_FAILED
    return EXIT_PARTIAL if failed else EXIT_OK


def _show(args: argparse.Namespace) -> int:
    settings = load_environment()
    platforms = args.platform or ()
    if args.account:
        known_account(settings, args.account, platforms)
    listing = views.read(
        settings.warehouse,
        args.table,
        account=args.account,
        platforms=platforms,
        since=args.since,
        limit=args.limit,
    )
    _print(listing.rows, args.format, total=listing.total)
    return 0


def known_account(settings: Settings, account_id: str, platforms: Sequence[str] = ()) -> None:
    """Refuse an id that is not in the accounts file (on the named platforms), listing those that are."""
    if any(
        a.account_id == account_id and (not platforms or a.platform in platforms)
        for a in settings.accounts
    ):
        return
    candidates = [a for a in settings.accounts if not platforms or a.platform in platforms]
    listed = "\n".join(f"  {a.platform:<10} {a.account_id}  ({a.name})" for a in candidates)
    where = f" on {', '.join(platforms)}" if platforms else ""
    source = settings.accounts_file or "the built-in sandbox"
    raise SettingsError(
        f"no account {account_id!r}{where} in {source}; known accounts{where}:\n"
        + (listed or "  (none)")
    )


def _print(frame: pl.DataFrame, fmt: str, *, total: int | None = None) -> None:
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        sys.stdout.write(views.render_table(frame, total=total, width=width))


def _dead_letters(args: argparse.Namespace) -> int:
    from social_pipeline.storage.dead_letters import all_dead_letters

    settings = load_environment()
    letters = [d for d in all_dead_letters(settings.data_root) if args.all or d["status"] == "open"]
    columns = [
        "platform",
        "account_id",
        "partition_date",
        "error_class",
        "attempts",
        "last_attempt_at",
        "status",
        "error",
    ]
    _print(pl.DataFrame(letters, schema={c: pl.String for c in columns}, strict=False), args.format)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from social_pipeline.app.launch import run_collection
    from social_pipeline.operations.replay import plan_replay

    settings = load_environment()
    dagster_home()
    planned = plan_replay(settings, platform=args.platform, account_id=args.account)
    if not planned:
        print("No open dead letters match; nothing to replay.")
        return 0
    failed = 0
    for request in planned:
        # One run of the raw asset (and downstream) per platform and day, like the sensor's.
        result = run_collection(
            settings,
            request.day,
            platforms=[request.platform],
            accounts=request.account_ids,
            tags={"reason": "replay"},
        )
        ok = result.success and not result.metadata.get(f"raw_{request.platform}", {}).get(
            "accounts_failed"
        )
        failed += not ok
        print(
            f"Replay {request.platform} {request.day} ({len(request.account_ids)} accounts), "
            f"run {result.run_id}: {'collected' if ok else 'failed again'}"
        )
    return 1 if failed else 0


def _sandbox(args: argparse.Namespace) -> int:
    import signal
    import threading

    # A server is stopped with SIGTERM. Started from a process that ignores it (a shell
    # job, or a Python process where Dagster mapped SIGTERM onto an ignored SIGINT), the
    # ignoring is inherited and the emulator could never be stopped.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    from social_pipeline.sandbox.server import Sandbox, SandboxConfig

    config = SandboxConfig(
        accounts_per_platform=args.accounts,
        posts_per_day=args.posts_per_day,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        rate_limit_window_s=args.rate_limit_window,
    )
    with Sandbox(config).start(args.port) as sandbox:
        print("# Emulator of the six APIs. Point the pipeline at it with:", flush=True)
        for name, url in sandbox.env().items():
            print(f"export {name}={url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
            threading.Event().wait()
    return 0


def _check(args: argparse.Namespace) -> int:
    settings = load_environment()
    problems = check_tokens(settings)
    source = settings.accounts_file or "built-in sandbox"
    print(f"{len(settings.accounts)} accounts from {source}")
    if not settings.accounts:
        print(
            f"  warning: {source} lists no accounts; nothing will be collected "
            "(add entries under `accounts:`)"
        )
    for problem in problems:
        print(f"  problem: {problem}")
    if not args.live:
        return 1 if problems else 0
    from social_pipeline.environment import api_base_urls
    from social_pipeline.operations.live_check import check_live

    with api_base_urls(settings) as urls:
        rows = check_live(settings, urls)
    columns = ["kind", "platform", "account_id", "name", "status", "detail"]
    table = pl.DataFrame(
        [[getattr(r, c) for c in columns] for r in rows],
        schema={c: pl.String for c in columns},
        orient="row",
    )
    width = shutil.get_terminal_size((160, 24)).columns
    print("\nLive check: one profile read per account, one call per app where one exists")
    sys.stdout.write(views.render_table(table, width=max(width, 120)))
    failed = sum(r.status == "failed" for r in rows)
    print(f"{sum(r.status == 'ok' for r in rows)} ok, {failed} failed")
    return 1 if problems or failed else 0


def _auth_status(args: argparse.Namespace) -> int:
    from social_pipeline.app.auth import STATUS_COLUMNS, status_rows, status_table

    rows = status_rows(load_environment())
    table = status_table(rows)
    _print(pl.DataFrame(table, schema={c: pl.String for c in STATUS_COLUMNS}), args.format)
    return 1 if any(r.status == "expired" for r in rows) else 0


def _auth_login(args: argparse.Namespace) -> int:
    import webbrowser

    from social_pipeline.app.auth import login

    opener = (lambda url: None) if args.no_browser else webbrowser.open
    login(load_environment(), args.platform, args.account, port=args.port, open_url=opener)
    return 0


def _ui(args: argparse.Namespace) -> int:
    from social_pipeline.app import ui
    from social_pipeline.app.launch import apply_pool_limits

    home = dagster_home()
    limits = apply_pool_limits(load_environment())
    print(
        "Pool limits: " + ", ".join(f"{k}={v}" for k, v in sorted(limits.items())) + " (others: 1)"
    )
    print(f"Starting the Dagster UI and daemon (history in {home}) ...", flush=True)
    return ui.serve(args.port)


if __name__ == "__main__":
    raise SystemExit(main())
