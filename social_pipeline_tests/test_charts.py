"""Text charts shown in the Dagster UI."""

from __future__ import annotations

from datetime import date

import polars as pl

from social_pipeline.operations.render import follower_growth_markdown, sparkline


def test_a_sparkline_scales_between_its_own_extremes() -> None:
    assert sparkline([10, 15, 20]) == "▁▄█"
    assert sparkline([5, 5]) == "▁▁"
    assert sparkline([]) == ""


def test_follower_growth_has_one_row_per_account_with_trend_and_change() -> None:
    history = pl.DataFrame(
        {
            "snapshot_date": [date(2026, 11, d) for d in (19, 20, 21, 19, 20)],
            "platform": ["x", "x", "x", "tiktok", "tiktok"],
            "account_id": ["1", "1", "1", "9", "9"],
            "followers": [100, 150, 130, 7, None],
        }
    )
    table = follower_growth_markdown(history).splitlines()
    assert table[2] == "| tiktok | 9 | 2026-11-19 | 7 | ▁ | +0 |"
    assert table[3] == "| x | 1 | 2026-11-19 | 130 | ▁█▅ | +30 |"
