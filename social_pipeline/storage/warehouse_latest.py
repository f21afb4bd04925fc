"""The latest row per post, kept up to date one changed lake day at a time.

`social_posts` and `post_engagement_metrics` hold each post's newest row (latest
`snapshot_date`, then `collected_at`, then the later row of its day). Recomputing them
from every lake day would cost the whole history on every build, so they live as Parquet
files split by month, and a build rewrites only the months that posts of the changed
days are filed in. A post is collected inside its window, so a daily run touches the
last month or two whatever the history holds.

A post is filed under the month it was created (from the posts table), and stays there:
a build first looks for the changed days' posts in the existing files, newest month
first, stopping at the oldest month any of them could be in. Posts with no known creation
time (a post whose time was missing, metrics of a post the posts table never saw) are
filed under `none`, and move out as soon as a creation time is known.

For a changed day, a post's newest row is the newest of: its previous latest row (unless
that came from a changed day), and its rows in the changed days as they are now. Only a
post whose latest row came from a changed day, and that the changed days no longer hold
as new as it, needs older days (an unchanged day may lie between two changed ones);
those are read newest first, stopping once every such post is found or the days are
older than its month.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from social_pipeline.core.schema import ENGAGEMENT, POSTS
from social_pipeline.storage.warehouse_files import (
    Frame,
    LakeSnapshot,
    LatestFiles,
    changed_days,
    newest_per_key,
)

KEY = ["platform", "post_id"]
NO_MONTH = "none"


@dataclass(frozen=True)
class LatestTable:
    name: str
    source: str  # the lake table it is the latest of
    schema: dict[str, pl.DataType]
    order: tuple[str, ...]  # row order inside a month file


LATEST_TABLES = (
    LatestTable(
        "social_posts", "posts", POSTS, ("platform", "account_id", "created_at", "post_id")
    ),
    LatestTable(
        "post_engagement_metrics",
        "engagement_snapshots",
        ENGAGEMENT,
        ("platform", "account_id", "post_id"),
    ),
)


def _read(folder: Path, files: Sequence[str], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not files:
        return pl.DataFrame(schema=schema)
    return pl.scan_parquet(
        [folder / f for f in files],
        schema=schema,
        hive_partitioning=False,
        missing_columns="insert",
        extra_columns="ignore",
    ).collect()


def _newest(rows: Frame) -> Frame:
    return newest_per_key(rows, KEY)


def _unique_newest(rows: pl.DataFrame) -> pl.DataFrame:
    """`_newest`, skipped when every post has one row already (one day's rows: the lake
    holds a post once a day), which spares sorting the whole day's rows."""
    return _newest(rows) if rows.select(KEY).is_duplicated().any() else rows


def _newer_of(still: pl.LazyFrame, fresh: pl.LazyFrame) -> pl.LazyFrame:
    """Per post, the newer of its row in `still` and in `fresh` (each one row per post at
    most), as `_newest` would pick, on ties `fresh`: joined on keys, not sorted."""
    theirs = still.select(
        *KEY, pl.col("snapshot_date").alias("_day"), pl.col("collected_at").alias("_at")
    )
    later = pl.col("collected_at").is_not_null() & (
        pl.col("_at").is_null() | (pl.col("collected_at") >= pl.col("_at"))
    )
    both_unknown = pl.col("collected_at").is_null() & pl.col("_at").is_null()
    wins = (
        fresh.join(theirs, on=KEY, how="left")
        .filter(
            pl.col("_day").is_null()
            | (pl.col("snapshot_date") > pl.col("_day"))
            | ((pl.col("snapshot_date") == pl.col("_day")) & (later | both_unknown))
        )
        .drop("_day", "_at")
    )
    return pl.concat([still.join(wins.select(KEY), on=KEY, how="anti"), wins])


def _dropped(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Posts the changed days' old versions (`old`) hold as newer than their new versions
    (`new`, one row per post) do, or that the new versions lack: only these can have
    lost their latest row. A re-run that keeps its posts has none."""
    newest_old = old.group_by(KEY).agg(pl.col("snapshot_date").max().alias("_old"))
    now = new.select(*KEY, pl.col("snapshot_date").alias("_new"))
    return (
        newest_old.join(now, on=KEY, how="left")
        .filter(pl.col("_new").is_null() | (pl.col("_new") < pl.col("_old")))
        .select(KEY)
    )


def _lost(dropped: pl.DataFrame, prior: pl.LazyFrame, changed: list[date]) -> pl.DataFrame:
    """Of the `dropped` posts, those that need older days: their previous latest row
    (`prior`) came from a changed day (not from an unchanged one, which still holds it).
    A row of an older changed day is not enough for them: an unchanged day between the
    two may hold a newer one."""
    if dropped.is_empty():
        return dropped
    was = prior.select(*KEY, pl.col("snapshot_date").alias("_was"))
    return (
        dropped.lazy()
        .join(was, on=KEY, how="left")
        .filter(pl.col("_was").is_null() | pl.col("_was").is_in(changed))
        .select(KEY)
        .collect()
    )


def _creation_months(rows: pl.DataFrame) -> pl.DataFrame:
    """(platform, post_id, hint): the month of each post's newest known creation time."""
    return (
        rows.filter(pl.col("created_at").is_not_null())
        .sort("snapshot_date")
        .select(*KEY, pl.col("created_at").dt.strftime("%Y-%m").alias("hint"))
        .unique(KEY, keep="last")
    )


def _day_files(snapshot: LakeSnapshot, table: str, days: Iterable[date]) -> list[str]:
    by_day = snapshot.get(table, {})
    return [by_day[d.isoformat()].file for d in sorted(days) if d.isoformat() in by_day]


class LatestUpdate:
    """One build's update of the latest tables, reading and writing files under `folder`."""

    def __init__(
        self,
        folder: Path,
        build_id: str,
        current: LakeSnapshot,
        previous: LakeSnapshot | None,
        previous_latest: LatestFiles | None,
    ) -> None:
        self.folder = folder
        self.build_id = build_id
        self.current = current
        self.previous = previous or {}
        self.previous_latest = previous_latest if previous is not None else None

    def run(self) -> LatestFiles:
        files: LatestFiles = {}
        for table in LATEST_TABLES:
            before = (self.previous_latest or {}).get(table.name)
            if before is None:
                files[table.name] = self._update(table, before={}, days=None)
            else:
                days = changed_days(self.previous, self.current, table.source)
                files[table.name] = self._update(table, before, days) if days else dict(before)
        return files

    def _hints(
        self, table: LatestTable, rows: pl.DataFrame, days: set[date] | None
    ) -> pl.DataFrame:
        """(platform, post_id, hint) for every post of `rows`; hint NULL where unknown."""
        if table.source == "posts":
            created = rows
        else:
            every = sorted(date.fromisoformat(d) for d in self.current.get("posts", {}))
            wanted = every if days is None else sorted(days)
            paths = _day_files(self.previous, "posts", wanted) + _day_files(
                self.current, "posts", wanted
            )
            narrow = (*KEY, "snapshot_date", "created_at")
            created = _read(self.folder, paths, {c: POSTS[c] for c in narrow})
        keys = rows.select(KEY).unique()
        return keys.join(_creation_months(created), on=KEY, how="left")

    def _filing(self, hints: pl.DataFrame, before: dict[str, str]) -> pl.DataFrame:
        """(platform, post_id, was, month): where each post is filed now, and will be."""
        unresolved = hints
        found = []
        # `none` first (it is small and every update rewrites it), then newest months first.
        order = [NO_MONTH] if NO_MONTH in before else []
        for month in order + sorted((m for m in before if m != NO_MONTH), reverse=True):
            if unresolved.is_empty():
                break
            could = unresolved["hint"].is_null() | (unresolved["hint"] <= month)
            if month != NO_MONTH and not could.any():
                break  # every post left was created after this month: it is not filed below
            there = _read(self.folder, [before[month]], {k: pl.String() for k in KEY})
            hit = unresolved.join(there.select(KEY), on=KEY, how="semi")
            found.append(hit.with_columns(pl.lit(month).alias("was")))
            unresolved = unresolved.join(hit.select(KEY), on=KEY, how="anti")
        filed = pl.concat(
            [*found, unresolved.with_columns(pl.lit(None, pl.String).alias("was"))],
            how="vertical_relaxed",
        )
        # Filed posts stay put, but leave `none` once their creation month is known.
        stays = pl.col("was").is_not_null() & (
            (pl.col("was") != NO_MONTH) | pl.col("hint").is_null()
        )
        month = pl.when(stays).then(pl.col("was")).otherwise(pl.col("hint").fill_null(NO_MONTH))
        return filed.select(*KEY, "was", month.alias("month"))

    def _write(self, table: LatestTable, month: str, rows: pl.LazyFrame) -> str | None:
        """Stream the month's rows into a new file; None when there are none."""
        name = f"latest/{table.name}/month={month}/{self.build_id}.parquet"
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        ordered = rows.select(list(table.schema)).sort(list(table.order), nulls_last=True)
        ordered.sink_parquet(temporary, compression="zstd", statistics=True)
        if pq.read_metadata(temporary).num_rows == 0:
            temporary.unlink()
            return None
        temporary.replace(path)
        return name

    def _update(
        self, table: LatestTable, before: dict[str, str], days: set[date] | None
    ) -> dict[str, str]:
        """The month files after `days` changed (None: every day, from scratch).

        Memory follows the changed days and one month at a time: the changed days' old
        versions are read as keys only, and each month's file is read when its turn comes.
        """
        narrow = [*KEY, "snapshot_date"] + (["created_at"] if "created_at" in table.schema else [])
        if days is None:
            every = [f.file for _, f in sorted(self.current.get(table.source, {}).items())]
            new = _unique_newest(_read(self.folder, every, table.schema))
            old = new.select(narrow).clear()
        else:
            paths = _day_files(self.previous, table.source, days)
            old = _read(self.folder, paths, {c: table.schema[c] for c in narrow})
            new = _unique_newest(
                _read(self.folder, _day_files(self.current, table.source, days), table.schema)
            )
        filing = self._filing(
            self._hints(table, pl.concat([old, new.select(narrow)]), days), before
        )
        dropped = _dropped(old, new)
        del old
        affected = set(filing["month"].to_list()) | set(filing["was"].drop_nulls().to_list())
        if NO_MONTH in before:
            affected.add(NO_MONTH)
        changed = sorted(days or [])
        after = {m: f for m, f in before.items() if m not in affected}
        for month in sorted(affected):
            here = filing.filter(pl.col("month") == month)
            keys = here.select(KEY).lazy()
            filed = self._scan(table, before.get(month))
            keep = filed.join(filing.select(KEY).lazy(), on=KEY, how="anti")
            # Posts moving in from another month (out of `none`) bring their row along.
            had = [filed.join(keys, on=KEY, how="semi")]
            for elsewhere in sorted(set(here["was"].drop_nulls().to_list()) - {month}):
                moved = here.filter(pl.col("was") == elsewhere).select(KEY).lazy()
                had.append(self._scan(table, before[elsewhere]).join(moved, on=KEY, how="semi"))
            prior = pl.concat(had)
            still = prior.filter(~pl.col("snapshot_date").is_in(changed))
            fresh = new.lazy().join(keys, on=KEY, how="semi")
            lost = _lost(dropped.join(here.select(KEY), on=KEY, how="semi"), prior, changed)
            since = None if month == NO_MONTH else date.fromisoformat(f"{month}-01")
            found = self._older_rows(table, lost, set(changed), since).lazy()
            rows = pl.concat([keep, _newer_of(pl.concat([still, found]), fresh)])
            name = self._write(table, month, rows)
            if name:
                after[month] = name
        return after

    def _scan(self, table: LatestTable, file: str | None) -> pl.LazyFrame:
        if file is None:
            return pl.LazyFrame(schema=table.schema)
        return pl.scan_parquet(self.folder / file, schema=table.schema)

    def _older_rows(
        self, table: LatestTable, lost: pl.DataFrame, days: set[date], since: date | None
    ) -> pl.DataFrame:
        """The newest unchanged-day row of each `lost` post, reading days newest first.

        A post created in a month appears in no day before it, so the search stops there.
        """
        found = [pl.DataFrame(schema=table.schema)]
        if lost.is_empty():
            return found[0]
        for day, snap in sorted(self.current.get(table.source, {}).items(), reverse=True):
            if since is not None and date.fromisoformat(day) < since:
                break
            if date.fromisoformat(day) in days:
                continue
            hit = _newest(
                _read(self.folder, [snap.file], table.schema).join(lost, on=KEY, how="semi")
            )
            if not hit.is_empty():
                found.append(hit)
                lost = lost.join(hit.select(KEY), on=KEY, how="anti")
            if lost.is_empty():
                break
        return pl.concat(found)
