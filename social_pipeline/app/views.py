"""What the CLI shows: the old HTTP routes' answers, read from the warehouse read-only."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from social_pipeline.storage.warehouse import query, warehouse_path

QUERIES = {
    "posts": """
        SELECT p.platform, p.account_id, p.post_id, p.created_at, p.content_type,
               left(p.text, 60) AS text, m.likes, m.comments, m.shares, m.views, m.saves,
               round(m.engagement_rate, 5) AS engagement_rate, m.collected_at
        FROM social_posts p
        LEFT JOIN post_engagement_metrics m USING (platform, post_id)
        WHERE $account IS NULL OR p.account_id = $account
        ORDER BY p.created_at DESC, p.post_id""",
    "followers": """
        SELECT snapshot_date, platform, account_id, followers, following, posts_count, collected_at
        FROM follower_snapshots
        WHERE $account IS NULL OR account_id = $account
        ORDER BY snapshot_date DESC, platform, account_id""",
    "jobs": """
        SELECT job_id, platform, account_id, partition_date, status, started_at, finished_at,
               posts_collected, api_calls, attempt, error
        FROM data_collection_jobs
        WHERE $account IS NULL OR account_id = $account
        ORDER BY started_at DESC, job_id""",
}


def read(
    data_dir: Path, table: str, *, account: str | None = None, limit: int = 50
) -> pl.DataFrame:
    """Rows of one CLI listing; `limit` 0 means all."""
    path = warehouse_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no warehouse at {path}: run `social-pipeline collect` first "
            "(or set SOCIAL_PIPELINE_DATA_DIR to where it lives)"
        )
    sql = QUERIES[table] + (f"\nLIMIT {int(limit)}" if limit else "")
    return query(data_dir, sql, {"account": account})
