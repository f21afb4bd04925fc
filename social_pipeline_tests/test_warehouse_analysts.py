"""The warehouse as an analyst meets it: named accounts, described columns, plain names.

Through the path users take: an accounts file, the emulator as the APIs, Dagster
materializing, then SQL on the warehouse and the asset metadata the UI shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.schema import FOLLOWERS, conform
from social_pipeline.core.window import CollectionWindow
from social_pipeline.normalize import linkedin
from social_pipeline.normalize.common import noted_gaps
from social_pipeline.sandbox import linkedin as linkedin_emulator
from social_pipeline.sandbox.server import Fault, Sandbox
from social_pipeline.storage import lake, warehouse
from social_pipeline.storage.lake_records import rate_limits_frame
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment, deployed

DAY = date(2026, 11, 20)
VIEWS_WITH_NAMES = ("top_posts", "daily_account_summary", "follower_growth")


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A deployment that collected DAY, shared by the module's read-only tests: one
    materialization for all of them. Its environment is undone once it has collected, so
    the module's other tests see none of it."""
    with pytest.MonkeyPatch.context() as mp, deployed(tmp_path_factory.mktemp("day"), mp) as d:
        d.clock.morning_after(DAY)
        assert d.materialize(DAY).success
        mp.undo()
        yield d


def test_the_accounts_table_names_every_account_with_its_handle_and_profile_url(
    collected: Deployment,
) -> None:
    d = collected
    accounts = d.table("SELECT * FROM accounts")
    world = {(p, a.account_id): a for p in PLATFORMS for a in d.sandbox.world.accounts(p)}
    assert sorted(accounts.select("platform", "account_id").rows()) == sorted(world)
    for row in accounts.iter_rows(named=True):
        account = world[(row["platform"], row["account_id"])]
        assert row["account_name"] == account.name  # from the accounts file
        assert row["in_accounts_file"] and row["profile_read_on"] == DAY
        platform, handle = row["platform"], account.handle
        if platform in ("x", "instagram", "facebook", "youtube"):
            assert row["handle"] == handle, platform
            assert handle in row["profile_url"], platform
        if platform in ("x", "instagram", "facebook", "youtube", "tiktok"):
            assert row["display_name"] == account.name, platform
    by_platform = {r["platform"]: r for r in accounts.iter_rows(named=True)}
    assert by_platform["x"]["profile_url"].startswith("https://x.com/")
    assert by_platform["youtube"]["profile_url"].startswith("https://www.youtube.com/@")
    # What the APIs do not give without another call or scope stays NULL.
    assert by_platform["linkedin"]["handle"] is None
    assert by_platform["linkedin"]["profile_url"].startswith("https://www.linkedin.com/company/")
    assert by_platform["tiktok"]["handle"] is None and by_platform["tiktok"]["profile_url"] is None


def test_the_analyst_views_carry_the_accounts_file_name(collected: Deployment) -> None:
    d = collected
    names = {(p, a.account_id): a.name for p in PLATFORMS for a in d.sandbox.world.accounts(p)}
    for view in VIEWS_WITH_NAMES:
        rows = d.table(f"SELECT platform, account_id, account_name FROM {view}")
        assert rows.height > 0, view
        assert all(names[(p, a)] == n for p, a, n in rows.rows()), view


def test_every_column_of_every_table_and_view_has_a_description(collected: Deployment) -> None:
    columns = collected.table(
        "SELECT table_name, column_name, comment FROM duckdb_columns() "
        "WHERE schema_name = 'main' AND NOT internal"
    )
    undescribed = columns.filter(pl.col("comment").fill_null("").str.strip_chars() == "")
    assert undescribed.is_empty(), undescribed.rows()
    tables = set(columns["table_name"])
    assert set(VIEWS_WITH_NAMES) | {"accounts", "social_posts", "dead_letters"} <= tables
    assert columns.height > 150


def test_each_warehouse_asset_reports_its_columns_and_row_count(collected: Deployment) -> None:
    d = collected
    for table in ("accounts", "social_posts", "follower_metrics", "api_rate_limits"):
        event = d.instance.get_latest_materialization_event(dg.AssetKey(["warehouse", table]))
        assert event is not None and event.asset_materialization is not None
        meta = event.asset_materialization.metadata
        rows = d.table(f"SELECT count(*) AS n FROM {table}")["n"].item()
        assert meta["dagster/row_count"].value == rows > 0, table
        schema = meta["dagster/column_schema"].value
        assert isinstance(schema, dg.TableSchema)
        found = d.table(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            f"WHERE table_name = '{table}' ORDER BY column_index"
        )
        assert [(c.name, c.type, c.description) for c in schema.columns] == found.rows(), table


def test_the_rate_limit_size_is_quota_limit(collected: Deployment) -> None:
    limits = collected.table("SELECT * FROM api_rate_limits")
    assert "quota_limit" in limits.columns and "limit" not in limits.columns
    assert limits.filter(pl.col("platform") == "x")["quota_limit"].drop_nulls().len() > 0


def test_linkedin_images_are_download_urls_in_the_warehouse(collected: Deployment) -> None:
    posts = collected.table(
        "SELECT content_type, media_urls, thumbnail_url FROM social_posts "
        "WHERE platform = 'linkedin'"
    )
    images = posts.filter(pl.col("content_type").is_in(["image", "carousel"]))
    urls = [u for row in images["media_urls"].to_list() for u in row]
    assert urls and all(u.startswith("https://media.licdn.") for u in urls)
    thumbs = posts["thumbnail_url"].drop_nulls().to_list()
    assert thumbs and not any(t.startswith("urn:li:image:") for t in thumbs)


def test_an_image_the_api_does_not_resolve_stays_a_urn_with_a_gap(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = linkedin_emulator._image_entity
    refused: list[str] = []

    def some_refused(sb, urn):  # noqa: ANN001, ANN202
        if not refused:
            refused.append(urn)
        return None if urn == refused[0] else served(sb, urn)

    monkeypatch.setattr(linkedin_emulator, "_image_entity", some_refused)
    pull = helpers.land_pull(sandbox, "linkedin", CollectionWindow(DAY))
    posts = linkedin.normalize([pull]).posts
    media = [u for row in posts["media_urls"].to_list() for u in row]
    media += posts["thumbnail_url"].drop_nulls().to_list()
    assert refused[0] in media  # kept as the URN
    assert sum(u.startswith("urn:li:image:") for u in media) == 1
    gaps = noted_gaps([pull]).filter(pl.col("kind") == "missing_field")
    assert gaps.select("field").rows() == [("downloadUrl",)]
    assert refused[0] in gaps["detail"].item() and "does not exist" in gaps["detail"].item()
    assert gaps["post_id"].item() in set(posts["post_id"])


def test_old_rate_limit_records_and_lake_files_read_as_quota_limit(tmp_path: Path) -> None:
    """A raw window landed before the rename says `limit`; a lake day written before it
    has a `limit` column. Both read as quota_limit."""
    observed = datetime(2026, 11, 18, 12, tzinfo=UTC)
    old_record = {"platform": "x", "endpoint": "/a", "limit": 900, "remaining": 5}
    assert rate_limits_frame([old_record | {"observed_at": observed}])["quota_limit"].item() == 900
    old_day = pl.DataFrame(
        {"platform": ["x"], "endpoint": ["/b"], "limit": [450], "observed_at": [observed]}
    )
    path = lake.partition_path(tmp_path, "rate_limits", date(2026, 11, 18))
    path.parent.mkdir(parents=True)
    old_day.write_parquet(path)
    new = rate_limits_frame([{"platform": "x", "endpoint": "/a", "quota_limit": 900}])
    lake.write_partition(tmp_path, "rate_limits", DAY, new)
    warehouse.build_warehouse(tmp_path)
    assert warehouse.query(
        tmp_path, "SELECT endpoint, quota_limit FROM api_rate_limits ORDER BY endpoint"
    ).rows() == [("/a", 900), ("/b", 450)]


def test_an_account_no_longer_in_the_accounts_file_keeps_its_rows_without_a_name(
    tmp_path: Path,
) -> None:
    follower = {
        "snapshot_date": DAY,
        "platform": "x",
        "account_id": "gone",
        "followers": 5,
        "handle": "old_handle",
        "collected_at": datetime(2026, 11, 21, 6, tzinfo=UTC),
    }
    lake.write_partition(
        tmp_path, "follower_snapshots", DAY, conform(pl.DataFrame([follower]), FOLLOWERS)
    )
    warehouse.build_warehouse(tmp_path, [("x", "kept", "Kept Inc")])
    assert warehouse.query(
        tmp_path,
        "SELECT account_id, account_name, handle, in_accounts_file FROM accounts ORDER BY 1",
    ).rows() == [("gone", None, "old_handle", False), ("kept", "Kept Inc", None, True)]
    # Identity lives in `accounts`, not on every follower row.
    columns = warehouse.query(tmp_path, "SELECT * FROM follower_snapshots").columns
    assert "handle" not in columns


def test_images_refused_for_good_leave_urns_and_gaps_not_a_failed_day(
    deployment: Deployment,
) -> None:
    d = deployment
    d.sandbox.inject(Fault("auth", platform="linkedin", path_contains="/rest/images", times=99))
    d.clock.morning_after(DAY)
    result = d.materialize(DAY, dg.AssetSelection.assets("raw_linkedin").downstream())
    assert result.success
    jobs = d.table("SELECT status FROM data_collection_jobs WHERE platform = 'linkedin'")
    assert jobs["status"].to_list() == ["success", "success"]
    media = d.table(
        "SELECT unnest(media_urls) AS url FROM social_posts WHERE platform = 'linkedin'"
    )["url"].to_list()
    assert any(u.startswith("urn:li:image:") for u in media)  # kept as URNs
    assert not any("licdn" in u for u in media)  # nothing resolved
    gaps = d.table(
        "SELECT field, detail FROM data_gaps WHERE platform = 'linkedin' AND kind = 'missing_field'"
    )
    assert gaps.height >= 1 and set(gaps["field"]) == {"downloadUrl"}
    assert all("the Images API refused" in t for t in gaps["detail"])
    assert d.table("SELECT * FROM quarantined_records WHERE platform = 'linkedin'").is_empty()
    assert not any(tok in " ".join(gaps["detail"]) for tok in d.tokens.values())
