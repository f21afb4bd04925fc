"""Posts that stopped coming back: tombstones from one day's listings against earlier days.

A complete pull lists every post the account created inside its window. A post an
earlier day stored, created inside today's window, that today's complete listing lacks
was deleted or made private (or the platform hides it now): it gets a `post_unavailable`
gap with the last day it was returned, instead of silently losing its history.

Fields a response lacks are gaps too (`missing_fields`): a count asked for and absent
(not 0) leaves its column NULL, and the gap says which field and where.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import polars as pl

from social_pipeline.core import schema
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize.common import MetricFields, listings

VANISHED = "no longer returned by the platform's listing (deleted, private or hidden)"
ABSENT = "asked for but absent from the response"
# A quarantine reason containing this marks a record that stands for a post the platform
# no longer shows (YouTube keeps a private or deleted upload in the playlist without its
# `videoPublishedAt`): such a record does not count as the post being returned.
GONE_MARK = "deleted or private"


def missing_fields(
    frame: pl.DataFrame,
    fields: MetricFields | Mapping[str, str],
    *,
    per_post: bool = True,
    skip: Collection[str] = (),
    when: pl.Expr | None = None,
) -> pl.DataFrame:
    """`missing_field` gap rows: one per row of `frame` and count field it lacks.

    `frame` holds a normalizer's kept rows with the fields' raw texts, the page columns
    and, `per_post`, a `post_id`; a profile's gap has no post. `fields` is MetricFields
    (whose texts are the columns `_<field>`) or {platform field: column of its text}.
    `skip` names fields whose absence is a documented rule, not a gap (a YouTube owner
    hiding likes). `when`, if given, limits the check to rows where it holds.
    """
    if isinstance(fields, MetricFields):
        fields = {fields.prefix + f: f"_{f}" for f in fields.fields}
    checked = {name: column for name, column in fields.items() if name not in skip}
    if frame.is_empty() or not checked:
        return schema.empty(schema.GAPS)
    post = pl.col("post_id") if per_post else pl.lit(None, dtype=pl.String)
    scope = pl.lit(True) if when is None else when.fill_null(False)
    # Most rows lack nothing: pick the few that do before listing fields per row.
    lacking = pl.any_horizontal(pl.col(column).is_null() for column in checked.values())
    rows = frame.filter(lacking & scope).select(
        "snapshot_date",
        "platform",
        "account_id",
        post.alias("post_id"),
        "collected_at",
        pl.concat_list(
            pl.when(pl.col(column).is_null() & scope).then(pl.lit(name)).otherwise(None)
            for name, column in checked.items()
        ).alias("field"),
    )
    rows = rows.explode("field").filter(pl.col("field").is_not_null())
    return schema.conform(
        rows.with_columns(pl.lit("missing_field").alias("kind"), pl.lit(ABSENT).alias("detail")),
        schema.GAPS,
    )


def vanished_posts(
    pulls: Sequence[RawPull], today: pl.DataFrame, earlier: pl.DataFrame, quarantined: pl.DataFrame
) -> pl.DataFrame:
    """`post_unavailable` gap rows for posts of `earlier` days missing from `today`.

    `today` is a posts frame (schema.POSTS); `earlier` holds one row per post earlier
    days stored: its latest day (`snapshot_date`) and the creation time it had that day,
    as `PostsSeen.of` gives them. Only accounts whose pull of the day is complete are
    judged, and a post whose record went to quarantine today (its id in a quarantined
    record of that account) was returned, just not usable, unless the quarantine reason
    says the record stands for a deleted or private post (`GONE_MARK`).
    """
    listed = listings(pulls).drop("window_start")
    if listed.is_empty() or earlier.is_empty():
        return schema.empty(schema.GAPS)
    seen = (
        earlier.select(
            "platform",
            "account_id",
            "post_id",
            "created_at",
            pl.col("snapshot_date").alias("last_seen"),
        )
        .join(listed, on=["platform", "account_id"])
        .filter(
            pl.col("created_at").is_between("listing_start", "window_end", closed="left")
            & (pl.col("last_seen") < pl.col("snapshot_date"))
        )
    )
    missing = seen.join(today.select("platform", "post_id"), on=["platform", "post_id"], how="anti")
    if not quarantined.is_empty() and not missing.is_empty():
        # Few rows on either side: a plain scan of the quarantined records' text is enough.
        texts: dict[tuple[str, str], list[str]] = {}
        usable = quarantined.filter(~pl.col("reason").str.contains(GONE_MARK, literal=True))
        for row in usable.select("platform", "account_id", "record").iter_rows():
            texts.setdefault((row[0], row[1]), []).append(row[2] or "")
        returned = [
            any(f'"{post_id}"' in t for t in texts.get((platform, account), []))
            for platform, account, post_id in missing.select(
                "platform", "account_id", "post_id"
            ).iter_rows()
        ]
        missing = missing.filter(~pl.Series(returned, dtype=pl.Boolean))
    return schema.conform(
        missing.with_columns(
            pl.lit("post_unavailable").alias("kind"), pl.lit(VANISHED).alias("detail")
        ).sort("platform", "account_id", "post_id"),
        schema.GAPS,
    )
