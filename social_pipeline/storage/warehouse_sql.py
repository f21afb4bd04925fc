"""The warehouse's SQL: sources over Parquet files, the contract tables, the analyst views.

A build reads a snapshot of the lake (`warehouse_files`): one Parquet file per lake table
and day, past months gathered into one file each (`warehouse_history`), listed by name.
History tables are views over those files, the latest-per-post tables views over month
files (`warehouse_latest`), and the small per-account tables are computed at each build.
A SELECT below names its sources as `{lake_<table>}` (typed columns and, for picking "the
latest row", `_file` and `_row`: the file and the row within it), `{summary_<table>}`
(the same, but of each gathered month only the rows `MONTH_SUMMARIES` keeps, so a
per-account table costs a few rows per month, not the history) or `{latest_<table>}`;
the build fills them in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import groupby

import polars as pl

from social_pipeline.core.schema import UTC_TS


def ident(name: str) -> str:
    """A quoted identifier (`limit` and `text` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_type(dtype: pl.DataType) -> str:
    """The DuckDB type of a lake column: dates stay DATE, UTC timestamps are TIMESTAMPTZ."""
    if dtype == UTC_TS:
        return "TIMESTAMPTZ"
    if isinstance(dtype, pl.List):
        return duckdb_type(dtype.inner) + "[]"
    simple = {
        pl.Date(): "DATE",
        pl.String(): "VARCHAR",
        pl.Int64(): "BIGINT",
        pl.Float64(): "DOUBLE",
        pl.Boolean(): "BOOLEAN",
    }
    if dtype in simple:
        return simple[dtype]
    raise TypeError(f"no warehouse type for lake dtype {dtype}")


def source_sql(
    table: str,
    schema: dict[str, pl.DataType],
    files: Sequence[tuple[str, Collection[str]]],
    position: bool = False,
) -> str:
    """A SELECT of one lake table's `files` (path, columns found in it) in its declared types.

    With no files the result is empty but typed, so every warehouse table exists with the
    right columns from the first build. Declared columns absent from a file (added after
    its day was written) read as NULL. Files are read in runs of the same columns, so
    DuckDB opens one footer per run to bind, not one per file. `position` adds `_file`
    and `_row`.
    """
    if not files:
        columns = _typed(table, schema, set())
        if position:
            columns += ["CAST(NULL AS VARCHAR) AS _file", "CAST(NULL AS BIGINT) AS _row"]
        return _select(columns, "(SELECT 1) WHERE false")
    parts = []
    for present, run in groupby(files, key=lambda f: frozenset(f[1])):
        columns = _typed(table, schema, set(present))
        listed = ", ".join(literal(path) for path, _ in run)
        options = "hive_partitioning = false"
        if position:
            columns += ["filename AS _file", "file_row_number AS _row"]
            options += ", filename = true, file_row_number = true"
        parts.append(_select(columns, f"read_parquet([{listed}], {options})"))
    return "\nUNION ALL\n".join(parts)


def _typed(table: str, schema: dict[str, pl.DataType], present: set[str]) -> list[str]:
    return [
        f"CAST({_source_column(table, name, present)} AS {duckdb_type(dtype)}) AS {ident(name)}"
        for name, dtype in schema.items()
    ]


def _select(columns: list[str], source: str) -> str:
    select = ",\n    ".join(columns)
    return f"SELECT\n    {select}\nFROM {source}"


# Lake columns renamed since older files were written: table -> {new name: old name}.
# Older days read under the new name, so a rename never empties a column's history.
RENAMED_COLUMNS: dict[str, dict[str, str]] = {"rate_limits": {"quota_limit": "limit"}}


def _source_column(table: str, name: str, present: set[str]) -> str:
    """The expression reading lake column `name` from files that may predate its rename."""
    found = [c for c in (name, RENAMED_COLUMNS.get(table, {}).get(name)) if c and c in present]
    if not found:
        return "NULL"
    if len(found) == 1:
        return ident(found[0])
    return f"coalesce({', '.join(ident(c) for c in found)})"


# Latest wins; ties broken by file then row, so the pick never depends on scan order.
_LATEST = "_file DESC, _row DESC"


def _first_per_key(key: str, source: str, newest_first: str, order: str, columns: str = "*") -> str:
    """Of `source`, the row per `key` that `newest_first` ranks first, sorted by `order`."""
    return f"""
SELECT {columns}
FROM {source}
QUALIFY row_number() OVER (
    PARTITION BY {key}
    ORDER BY {newest_first}) = 1
ORDER BY {order}
"""


def _latest_of(
    key: str, source: str, newest_first: str, order: str, exclude: tuple[str, ...] = ()
) -> str:
    """The latest row per `key` of a `{lake_<t>}` or `{summary_<t>}` source, without its
    `_file` and `_row` (nor the `exclude`d columns)."""
    columns = ", ".join(("_file", "_row", *exclude))
    return _first_per_key(
        key, source, f"{newest_first}, {_LATEST}", order, f"* EXCLUDE ({columns})"
    )


# Who an account is lives in `accounts`, not in every follower row.
IDENTITY = ("handle", "display_name", "profile_url")

# "Latest" of the per-account tables, shared with the month summaries that must keep it.
_NEWEST_FOLLOWERS = "snapshot_date DESC, collected_at DESC NULLS LAST"
_NEWEST_RATE_LIMIT = "observed_at DESC NULLS LAST"
_RATE_LIMIT_KEY = "platform, endpoint, scope, account_id"


def _first_in_month(key: str, newest_first: str = "") -> str:
    """The month file's row per `key` that `newest_first` ranks first, then the later row
    (as `_LATEST` breaks ties: a month file keeps its days' rows in order)."""
    order = f"{newest_first}, file_row_number DESC" if newest_first else "file_row_number"
    return f"row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1"


# Lake table -> which rows of a gathered month file its summary keeps (a condition over
# the month file read with `file_row_number`). The summary holds every row the tables
# reading `{summary_<table>}` can pick, so over the summaries and the newest month's days
# they pick what they would over the whole history:
MONTH_SUMMARIES: dict[str, str] = {
    # follower_metrics: each account's latest row; accounts: the latest row carrying each
    # identity field, and the latest day.
    "follower_snapshots": " OR ".join(
        [
            _first_in_month("platform, account_id", _NEWEST_FOLLOWERS),
            *(
                f"({field} IS NOT NULL AND "
                f"{_first_in_month(f'platform, account_id, {field} IS NULL', _NEWEST_FOLLOWERS)})"
                for field in IDENTITY
            ),
        ]
    ),
    # accounts: which accounts have jobs, any one row of each.
    "collection_jobs": _first_in_month("platform, account_id"),
    # api_rate_limits: the latest window per key.
    "rate_limits": _first_in_month(_RATE_LIMIT_KEY, _NEWEST_RATE_LIMIT),
}

# The accounts file's names, handed to the build (storage never reads settings itself).
CONFIGURED_ACCOUNTS_SQL = """
CREATE TEMP TABLE configured_accounts (platform VARCHAR, account_id VARCHAR, account_name VARCHAR)
"""

ACCOUNTS_SQL = """
WITH profile AS (
    -- Each field from the latest profile that carried it (a day without it keeps the last).
    SELECT
        platform,
        account_id,
        arg_max(handle, snapshot_date) FILTER (WHERE handle IS NOT NULL) AS handle,
        arg_max(display_name, snapshot_date) FILTER (WHERE display_name IS NOT NULL)
            AS display_name,
        arg_max(profile_url, snapshot_date) FILTER (WHERE profile_url IS NOT NULL)
            AS profile_url,
        max(snapshot_date) AS profile_read_on
    FROM {summary_follower_snapshots}
    GROUP BY platform, account_id
),
known AS (
    -- Every account with a follower row has a profile row: one read of the files, not two.
    SELECT platform, account_id FROM configured_accounts
    UNION SELECT platform, account_id FROM profile
    UNION SELECT platform, account_id FROM {summary_collection_jobs}
)
SELECT
    k.platform,
    k.account_id,
    c.account_name,
    p.handle,
    p.display_name,
    p.profile_url,
    c.account_id IS NOT NULL AS in_accounts_file,
    p.profile_read_on
FROM known AS k
LEFT JOIN (SELECT DISTINCT ON (platform, account_id) * FROM configured_accounts) AS c
    USING (platform, account_id)
LEFT JOIN profile AS p USING (platform, account_id)
ORDER BY k.platform, k.account_id
"""


@dataclass(frozen=True)
class WarehouseTable:
    name: str
    comment: str
    select: str
    # Computed into the file at each build (small: one row per account or quota window),
    # or else a view over the build's Parquet files (history and latest-per-post).
    stored: bool
    # The lake table whose files a view lists row for row: its row count is theirs, as
    # their footers gave it, rather than a count(*) opening every file of the history.
    rows_of: str | None = None


# The contract tables, in the order analysts see them. Views over files are created
# first, then stored tables (which may read them).
TABLES: list[WarehouseTable] = [
    WarehouseTable(
        "accounts",
        "One row per account: the accounts file's name for it, and its handle, display name "
        "and profile URL as the platform's latest profile gave them (NULL where it gives none).",
        ACCOUNTS_SQL,
        stored=True,
    ),
    WarehouseTable(
        "social_posts",
        "One row per post, its latest version (latest snapshot_date, then collected_at).",
        "SELECT * FROM {latest_social_posts}",
        stored=False,
    ),
    WarehouseTable(
        "engagement_snapshots",
        "One row per post per collection day: each post's growth curve over its window.",
        "SELECT * FROM {files_engagement_snapshots}",
        stored=False,
        rows_of="engagement_snapshots",
    ),
    WarehouseTable(
        "post_engagement_metrics",
        "One row per post, its latest metrics. NULL means the platform does not report it.",
        "SELECT * FROM {latest_post_engagement_metrics}",
        stored=False,
    ),
    WarehouseTable(
        "follower_snapshots",
        "One row per account per collection day.",
        f"SELECT * EXCLUDE ({', '.join(IDENTITY)}) FROM {{files_follower_snapshots}}",
        stored=False,
        rows_of="follower_snapshots",
    ),
    WarehouseTable(
        "follower_metrics",
        "One row per account, its latest follower counts.",
        _latest_of(
            "platform, account_id",
            "{summary_follower_snapshots}",
            _NEWEST_FOLLOWERS,
            "platform, account_id",
            exclude=IDENTITY,
        ),
        stored=True,
    ),
    WarehouseTable(
        "data_collection_jobs",
        "One row per account collection attempt (job_id), failed ones included.",
        _latest_of(
            "job_id",
            "{lake_collection_jobs}",
            "finished_at DESC NULLS LAST, started_at DESC NULLS LAST",
            "partition_date, platform, account_id, started_at, job_id",
        ),
        stored=False,
    ),
    WarehouseTable(
        "api_rate_limits",
        "The latest observed quota window per platform endpoint, scope and account.",
        _latest_of(
            _RATE_LIMIT_KEY,
            "{summary_rate_limits}",
            _NEWEST_RATE_LIMIT,
            _RATE_LIMIT_KEY,
        ),
        stored=True,
    ),
    WarehouseTable(
        "quarantined_records",
        "Malformed records kept aside with the reason, one row per record.",
        "SELECT * FROM {files_quarantine}",
        stored=False,
        rows_of="quarantine",
    ),
    WarehouseTable(
        "data_gaps",
        "What a collection day could not give, one row per gap: a metric the platform "
        "refused (unavailable_metric), a post it stopped returning (post_unavailable, with "
        "last_seen), a field its response lacked (missing_field).",
        "SELECT * FROM {files_gaps}",
        stored=False,
        rows_of="gaps",
    ),
]

# (view, comment, SELECT). Views read the tables above, so they need no rebuild of their own.
VIEWS: list[tuple[str, str, str]] = [
    (
        "post_tombstones",
        "Posts the platform stopped returning, one row per post: the last day it was "
        "returned (for a post a metrics look-up left out, the last day its engagement was "
        "read; NULL if never) and the latest day it was found missing. A post whose "
        "engagement is read again after that day (made public again) is not listed.",
        """
WITH gone AS (
    SELECT
        platform,
        account_id,
        post_id,
        max(last_seen) AS last_seen,
        max(snapshot_date) AS missing_on,
        arg_max(detail, snapshot_date) AS detail
    FROM data_gaps
    WHERE kind = 'post_unavailable'
    GROUP BY platform, account_id, post_id
),
read AS (
    -- When its numbers were read: read_on, for a row an age-tiered day carried forward.
    SELECT
        g.platform,
        g.post_id,
        max(coalesce(e.read_on, e.snapshot_date))
            FILTER (WHERE coalesce(e.read_on, e.snapshot_date) < g.missing_on) AS read_before,
        max(coalesce(e.read_on, e.snapshot_date))
            FILTER (WHERE coalesce(e.read_on, e.snapshot_date) > g.missing_on) AS read_after
    FROM gone AS g
    JOIN engagement_snapshots AS e USING (platform, post_id)
    GROUP BY g.platform, g.post_id
)
SELECT
    g.platform,
    g.account_id,
    g.post_id,
    coalesce(g.last_seen, r.read_before) AS last_seen,
    g.missing_on,
    g.detail
FROM gone AS g
LEFT JOIN read AS r USING (platform, post_id)
WHERE r.read_after IS NULL
ORDER BY g.platform, g.account_id, g.post_id
""",
    ),
    (
        "unavailable_metrics",
        "Metrics a platform refused, per platform, API version, media type and metric: "
        "how many posts, and the first and latest day it happened.",
        """
SELECT
    platform,
    api_version,
    media_type,
    field AS metric,
    count(DISTINCT post_id) AS posts,
    min(snapshot_date) AS first_seen,
    max(snapshot_date) AS last_seen,
    arg_max(detail, snapshot_date) AS detail
FROM data_gaps
WHERE kind = 'unavailable_metric'
GROUP BY ALL
ORDER BY platform, api_version, media_type, metric
""",
    ),
    (
        "follower_growth",
        "Followers per account and day, with the change since the previous snapshot.",
        """
SELECT
    f.snapshot_date,
    f.platform,
    f.account_id,
    a.account_name,
    f.followers,
    f.followers - lag(f.followers) OVER w AS followers_change,
    100.0 * (f.followers - lag(f.followers) OVER w) / nullif(lag(f.followers) OVER w, 0)
        AS followers_change_pct,
    f.snapshot_date - lag(f.snapshot_date) OVER w AS days_since_previous
FROM follower_snapshots AS f
LEFT JOIN accounts AS a USING (platform, account_id)
WINDOW w AS (PARTITION BY f.platform, f.account_id ORDER BY f.snapshot_date)
ORDER BY f.platform, f.account_id, f.snapshot_date
""",
    ),
    (
        "daily_account_summary",
        "One row per account and collection day: followers, posting and engagement.",
        """
WITH engagement AS (
    SELECT
        snapshot_date,
        platform,
        account_id,
        count(*) AS posts_in_window,
        CAST(sum(interactions) AS BIGINT) AS interactions,
        avg(engagement_rate) AS avg_engagement_rate
    FROM engagement_snapshots
    GROUP BY snapshot_date, platform, account_id
),
published AS (
    -- The UTC day, whatever the analyst's session TimeZone is.
    SELECT
        CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS snapshot_date,
        platform,
        account_id,
        count(*) AS posts_published
    FROM social_posts
    GROUP BY ALL
),
days AS (
    SELECT snapshot_date, platform, account_id FROM follower_snapshots
    UNION
    SELECT snapshot_date, platform, account_id FROM engagement
)
SELECT
    d.snapshot_date,
    d.platform,
    d.account_id,
    a.account_name,
    g.followers,
    g.followers_change,
    coalesce(p.posts_published, 0) AS posts_published,
    coalesce(e.posts_in_window, 0) AS posts_in_window,
    e.interactions,
    e.avg_engagement_rate
FROM days AS d
LEFT JOIN accounts AS a USING (platform, account_id)
LEFT JOIN follower_growth AS g USING (snapshot_date, platform, account_id)
LEFT JOIN published AS p USING (snapshot_date, platform, account_id)
LEFT JOIN engagement AS e USING (snapshot_date, platform, account_id)
ORDER BY d.snapshot_date, d.platform, d.account_id
""",
    ),
    (
        "top_posts",
        "Posts by latest engagement rate, highest first, with their text and link.",
        """
SELECT
    m.platform,
    m.account_id,
    a.account_name,
    m.post_id,
    p.created_at,
    p.content_type,
    p.text,
    p.permalink,
    m.likes,
    m.comments,
    m.shares,
    m.views,
    m.saves,
    m.interactions,
    m.engagement_rate,
    m.snapshot_date,
    m.collected_at
FROM post_engagement_metrics AS m
LEFT JOIN social_posts AS p USING (platform, post_id)
LEFT JOIN accounts AS a ON a.platform = m.platform AND a.account_id = m.account_id
ORDER BY m.engagement_rate DESC NULLS LAST, m.interactions DESC NULLS LAST, m.platform, m.post_id
""",
    ),
]

INFO_SQL = """
CREATE TABLE _warehouse_info AS
SELECT
    CAST(? AS TIMESTAMPTZ) AS built_at,
    CAST(? AS VARCHAR) AS lake_path,
    CAST(? AS VARCHAR) AS duckdb_version
"""
