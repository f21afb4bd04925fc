"""What each warehouse column means: the text of its COMMENT, kept in one place.

A column means the same in every table and view it appears in, unless `BY_TABLE` says
otherwise for that table. The build comments every column it finds (DuckDB shows them in
`duckdb_columns()`, DBeaver and the Dagster UI), and a test fails on any column left
without a description, so a new column cannot ship undocumented.
"""

from __future__ import annotations

_METRIC = "NULL where the platform does not report it, never 0 (README, per-platform field map)."

COLUMNS: dict[str, str] = {
    # Who and what
    "platform": "The platform: facebook, instagram, x, linkedin, youtube or tiktok.",
    "account_id": "The platform's id of the account (Page, IG user, X user, organization, "
    "channel, TikTok open_id), as in the accounts file.",
    "account_name": "The account's name in the accounts file (NULL for an account no longer "
    "listed there).",
    "handle": "The account's handle or username without '@', where the profile API gives "
    "one (X, Instagram, Facebook, YouTube customUrl); NULL elsewhere.",
    "display_name": "The account's display name from its profile (X, Instagram, Facebook, "
    "YouTube, TikTok); NULL where the API gives none.",
    "profile_url": "The account's public profile URL, from the profile or built from its "
    "handle or id; NULL for TikTok (profile_deep_link needs another scope).",
    "in_accounts_file": "True when the accounts file the warehouse was built with lists the "
    "account; false for an account only the lake still remembers.",
    "profile_read_on": "The latest collection day with a profile read for the account.",
    "post_id": "The platform's id of the post (LinkedIn: its share or ugcPost URN).",
    # Posts
    "created_at": "When the post was published, UTC.",
    "content_type": "One of text, image, video, carousel, link, reel, short, story, live "
    "(README, Content types).",
    "text": "The post's text or caption (YouTube: title, blank line, description).",
    "permalink": "The post's public URL.",
    "media_urls": "URLs of the post's media files, in order (LinkedIn: download URLs from the "
    "Images API, which expire; an image URN where it could not be resolved).",
    "thumbnail_url": "A preview image of the post, where the platform gives one.",
    # Metrics
    "likes": f"Likes (Facebook: all reactions). {_METRIC}",
    "comments": f"Comments or replies. {_METRIC}",
    "shares": f"Shares, retweets or reposts. {_METRIC}",
    "views": f"Views or plays (X: impressions). {_METRIC}",
    "saves": f"Saves or bookmarks. {_METRIC}",
    "impressions": f"Impressions. {_METRIC}",
    "reach": f"Unique accounts reached. {_METRIC}",
    "clicks": f"Clicks. {_METRIC}",
    "interactions": "likes + comments + shares + saves, counting those the platform reports; "
    "NULL when it reports none of them.",
    "engagement_rate": "interactions / the account's followers on the snapshot day; NULL when "
    "either is unknown or followers is 0.",
    "engagement_rate_per_view": "interactions / views, where the platform reports views.",
    "read_on": "The day these numbers were read: snapshot_date, except an older post an "
    "age-tiered day did not re-read, which keeps its last numbers and their day.",
    "snapshot_date": "The collection day (UTC) the row belongs to.",
    "collected_at": "When the numbers were read from the platform, UTC.",
    # Followers
    "followers": "Followers, subscribers or Page follows on the day. NULL where hidden or not "
    "reported.",
    "following": "Accounts the account follows. NULL where the platform does not report it.",
    "posts_count": "Posts, videos or media the profile counts. NULL where not reported.",
    "followers_change": "followers minus the previous snapshot's (NULL on the first).",
    "followers_change_pct": "followers_change as a percentage of the previous snapshot's "
    "followers (NULL on the first, or when that was 0).",
    "days_since_previous": "Days between this snapshot and the account's previous one.",
    # Collection jobs
    "job_id": "The id of one account collection attempt.",
    "partition_date": "The collection day the attempt was for.",
    "status": "success, partial (some pages landed before the failure) or failed.",
    "started_at": "When the attempt started, UTC.",
    "finished_at": "When the attempt ended, UTC.",
    "posts_collected": "Posts in the day's window the attempt collected.",
    "api_calls": "HTTP requests the attempt made, retries included.",
    "retries": "Requests the attempt retried after a transient error or rate limit.",
    "seconds_waited": "Seconds the attempt sat out rate limits.",
    "attempt": "The attempt's number for its account and day (1 for the first).",
    "error_class": "What kind of failure: auth, rate_limited, transient, permanent, "
    "malformed_response...; NULL on success.",
    "error": "The failure's message, tokens redacted; NULL on success.",
    "reset_at": "When a rate-limited attempt may be retried, UTC.",
    "run_id": "The Dagster run that made the attempt.",
    # Rate limits
    "endpoint": "The endpoint the window covers, as the client names it (GET /2/users/:id/tweets).",
    "scope": "What the limit covers: app, endpoint, user, endpoint_user or page.",
    "quota_limit": "Requests the window allows (was `limit`); NULL where the platform does not "
    "say.",
    "remaining": "Requests left in the window when observed; NULL where not reported.",
    "observed_at": "When the window was observed, UTC.",
    # Quarantine and gaps
    "kind": "What the row is about.",
    "reason": "Why the record was set aside.",
    "record": "The raw record as JSON text.",
    "source": "The raw landing file the record came from.",
    "field": "The metric or field that is missing; NULL for post_unavailable.",
    "media_type": "The platform's media type, where the gap depends on it (REELS/VIDEO, post).",
    "api_version": "The API version the collection used.",
    "detail": "Why, in the platform's words where it gave any.",
    "last_seen": "The last day the post was returned.",
    "metric": "The metric the platform refused.",
    "posts": "Posts it was refused for.",
    "first_seen": "The first collection day it was refused.",
    "missing_on": "The latest day the post was found missing.",
    # Dead letters
    "attempts": "Failed attempts before the collection was given up.",
    "last_attempt_at": "When the last attempt ended, UTC.",
    # Summary view
    "posts_published": "Posts the account published on that UTC day.",
    "posts_in_window": "Posts with an engagement snapshot that day (the collection window).",
    "avg_engagement_rate": "Mean engagement_rate of those posts.",
    # Build info
    "built_at": "When this warehouse file was built, UTC.",
    "lake_path": "The lake folder it was built from.",
    "duckdb_version": "The DuckDB version that built it.",
}

# Where a column means something more specific in one table or view.
BY_TABLE: dict[str, dict[str, str]] = {
    "social_posts": {
        "snapshot_date": "The latest collection day that returned the post (this version).",
        "collected_at": "When this version was read, UTC.",
    },
    "post_engagement_metrics": {"snapshot_date": "The day of the latest metrics."},
    "top_posts": {"snapshot_date": "The day of the latest metrics."},
    "follower_metrics": {"snapshot_date": "The day of the latest follower counts."},
    "api_rate_limits": {
        "account_id": "The account, for the per-account scopes (user, endpoint_user, page); "
        "NULL for app and endpoint.",
        "reset_at": "When the window resets, UTC.",
    },
    "quarantined_records": {"kind": "What was set aside: posts, metrics, profile or page."},
    "data_gaps": {
        "kind": "unavailable_metric (the platform refused a metric), post_unavailable (it "
        "stopped returning a post) or missing_field (a response lacked an asked field).",
        "post_id": "The post; NULL for an account-level gap (a profile field).",
        "last_seen": "post_unavailable: the last day the post was returned.",
        "collected_at": "When the collection read it, UTC.",
    },
    "post_tombstones": {
        "last_seen": "The last day the post was returned (or its engagement read); NULL if never."
    },
    "unavailable_metrics": {"last_seen": "The latest collection day it was refused."},
    "dead_letters": {
        "status": "open, or resolved once a later attempt succeeded.",
        "reset_at": "When the last rate-limited attempt could have been retried, UTC.",
    },
    "daily_account_summary": {
        "interactions": "Sum of interactions over the posts in the window that day.",
        "followers_change": "followers minus the previous snapshot's (NULL on the first).",
    },
}


def column_description(table: str, column: str) -> str | None:
    """The COMMENT of `table.column`; None for a column nobody has described."""
    return BY_TABLE.get(table, {}).get(column) or COLUMNS.get(column)
