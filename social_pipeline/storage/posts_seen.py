"""Posts earlier days stored, one narrow row per post, kept rolling from day to day.

Storing day D compares its complete listings with the posts of the days before it in
the window (vanished posts, carried rows). Reading those 28 day partitions every day
would cost a month of posts per day, read again and again. So the run of day D leaves
an index beside the lake for the next day to start from:

    <data>/lake/_posts_seen/date=<D>.parquet

one row per post seen from `since` to D (its latest day, and its creation time that day),
with the version of every posts partition it was made from in its footer. A reader uses
it only if those versions are still the lake's: a re-run or backfill of a day in the
window, or a deleted day, makes it stale, and the reader falls back to the partitions
(and writes the index it computed, so the next re-run of the day reads one file). The
lake stays the record: the index is derived, can be deleted at any time, and tools that
read the lake skip it (a folder starting with `_`, as Hive and Spark do).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date

import polars as pl

from social_pipeline.core import schema
from social_pipeline.storage import lake
from social_pipeline.storage.object_store import ObjectStoreError
from social_pipeline.storage.objects import ObjectStore, store_at

log = logging.getLogger(__name__)

PREFIX = "lake/_posts_seen/"
# The footer key holding {"since": ISO day, "versions": {ISO day: partition version}}.
META_KEY = "social_pipeline.posts_seen"
KEY = ["platform", "account_id", "post_id"]
COLUMNS = {c: schema.POSTS[c] for c in (*KEY, "created_at", "snapshot_date")}
# Index files kept before the newest one written: a re-run of the newest day still
# finds the index of the day before it.
KEEP_DAYS = 2


def index_key(day: date) -> str:
    return f"{PREFIX}date={day.isoformat()}.parquet"


def seen_rows(posts: pl.LazyFrame) -> pl.LazyFrame:
    """Posts rows (any number of days) as one row per post: its latest day and the
    creation time it had that day, no text. A month of an agency's posts, read whole,
    would not fit the memory a day is allowed."""
    return (
        posts.select(list(COLUMNS))
        .group_by(KEY)
        .agg(
            pl.col("created_at").sort_by("snapshot_date").last(),
            pl.col("snapshot_date").max(),
        )
    )


class PostsSeen:
    """The posts a day's earlier days stored (`of`), and the index of a stored day
    (`record`). Read once per day for every platform: per platform would read the
    same index or partitions six times."""

    def __init__(self, data: lake.DataRoot) -> None:
        self.store: ObjectStore = store_at(data)
        self._partitions: dict[date, str] | None = None
        self._read: tuple[date, date, pl.DataFrame] | None = None  # since, day, rows

    def partitions(self) -> dict[date, str]:
        """Day -> version of every posts partition, listed once."""
        if self._partitions is None:
            self._partitions = {p.day: p.version for p in lake.partitions(self.store, "posts")}
        return self._partitions

    def window(self, since: date, day: date) -> dict[date, str]:
        """Day -> version of the posts partitions from `since` up to `day` (excluded)."""
        return {d: v for d, v in self.partitions().items() if since <= d < day}

    def days(self, since: date, day: date) -> list[date]:
        """The days from `since` up to `day` (excluded) that have posts stored."""
        return sorted(self.window(since, day))

    def of(self, platform: str, since: date, day: date) -> pl.DataFrame:
        """One row per post of `platform` stored on a day from `since` to `day` (excluded),
        in the posts schema (columns other than `COLUMNS` NULL)."""
        if self._read is None or self._read[1] != day or self._read[0] > since:
            self._read = (since, day, self._earlier(since, day))
        rows = self._read[2].filter(
            (pl.col("platform") == platform) & (pl.col("snapshot_date") >= since)
        )
        return rows.select(
            pl.col(c) if c in COLUMNS else pl.lit(None, dtype).alias(c)
            for c, dtype in schema.POSTS.items()
        )

    def _earlier(self, since: date, day: date) -> pl.DataFrame:
        window = self.window(since, day)
        if not window:
            return schema.empty(COLUMNS)
        last = max(window)
        found = self._index(last, since, window)
        if found is not None:
            return found
        rows = lake.read_table(self.store, "posts", sorted(window), seen_rows)
        self._write(last, since, window, [rows])  # for the next re-run of `day`
        return rows

    def _index(self, last: date, since: date, window: dict[date, str]) -> pl.DataFrame | None:
        """The index of `last`, if it covers `since` and was made from `window` as the
        lake holds it now; None otherwise (missing, stale or unreadable)."""
        raw = self.store.get(index_key(last))
        if raw is None:
            return None
        try:
            meta = json.loads(pl.read_parquet_metadata(io.BytesIO(raw))[META_KEY])
            covered = date.fromisoformat(meta["since"])
            versions = {date.fromisoformat(d): v for d, v in meta["versions"].items()}
            if covered > since or {d: v for d, v in versions.items() if d >= since} != window:
                return None
            rows = pl.read_parquet(io.BytesIO(raw), columns=list(COLUMNS))
        except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError):
            log.warning("posts index %s is unreadable; reading the lake instead", index_key(last))
            return None
        return schema.conform(rows, COLUMNS).filter(pl.col("snapshot_date") >= since)

    def record(self, day: date, posts: Sequence[pl.DataFrame], version: str) -> None:
        """Leave the index of `day` for the next day: the earlier rows this day read,
        updated with `posts` (the day's posts as stored, a frame per platform; partition
        `version`). A platform at a time, so the keys matched are one platform's."""
        if self._read is not None and self._read[1] == day:
            since, earlier = self._read[0], self._read[2]
        else:  # nothing read earlier days (no pulls): the day alone
            since, earlier = day, schema.empty(COLUMNS)
        window = self.window(since, day)

        def parts() -> Iterator[pl.DataFrame]:
            done: list[str] = []
            for frame in posts:
                # A stored day holds each post once (its last row): no grouping needed.
                today = schema.conform(frame.select(list(COLUMNS)), COLUMNS)
                platforms = today["platform"].unique().to_list()
                before = earlier.filter(pl.col("platform").is_in(platforms))
                yield before.join(today.select(KEY), on=KEY, how="anti") if today.height else before
                yield today
                done += platforms
            yield earlier.filter(~pl.col("platform").is_in(done))  # platforms without posts

        self._write(day, since, {**window, day: version}, parts())
        self._prune(day)

    def _write(
        self, day: date, since: date, versions: dict[date, str], parts: Iterable[pl.DataFrame]
    ) -> None:
        """Put the index of `day`, the rows of `parts` written as they come (no copy to put
        them together). The index only saves reading: failing to write it is logged, never
        a failed day."""
        versions_of = {d.isoformat(): v for d, v in versions.items()}
        meta = json.dumps({"since": since.isoformat(), "versions": versions_of})
        key = index_key(day)
        staged = None
        try:
            staged = lake.StagedParquet(self.store, key, COLUMNS, {META_KEY: meta})
            for part in parts:
                staged.write(part.select(list(COLUMNS)))
            staged.publish()
        except (OSError, ObjectStoreError) as exc:
            log.warning("could not write the posts index %s: %s", self.store.describe(key), exc)
        finally:
            if staged is not None:
                staged.discard()  # after a failure; publishing moved the file otherwise

    def _prune(self, day: date) -> None:
        """Delete indexes more than `KEEP_DAYS` before `day` (backfills leave some behind)."""
        try:
            for info in self.store.list(PREFIX):
                name = info.key.removeprefix(PREFIX)
                try:
                    then = date.fromisoformat(name.removeprefix("date=").removesuffix(".parquet"))
                except ValueError:
                    continue
                if (day - then).days > KEEP_DAYS:
                    self.store.delete(info.key)
        except (OSError, ObjectStoreError) as exc:
            log.warning("could not prune the posts indexes: %s", exc)
