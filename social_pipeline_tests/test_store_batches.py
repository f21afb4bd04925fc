"""A day is normalized a batch of accounts at a time, and the lake does not show it.

`store_day` reads each platform's pulls in batches (`raw.BATCH_BYTES` of landed files), so
its memory follows the batch, not the number of accounts; rows, dedupe, quarantine and
gaps must come out the same however the day is cut.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.operations.store import DayFrames, normalize_day
from social_pipeline.storage import raw
from social_pipeline_tests import helpers
from social_pipeline_tests.helpers import Deployment

DAY = date(2026, 11, 19)


def _sorted(frames: DayFrames) -> dict[str, pl.DataFrame]:
    """Each frame in one order (quarantine and gap rows may tie on their sort keys)."""
    return {
        name: frame.sort([c for c, t in frame.schema.items() if not t.is_nested()], nulls_last=True)
        for name, frame in vars(frames).items()
    }


def test_a_day_cut_into_one_batch_per_account_stores_the_same_rows(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers.collect_day(deployment, DAY, PLATFORMS, store=False)
    whole = normalize_day(deployment.data_dir, DAY)
    assert len(raw.pull_batches(deployment.data_dir, "x", DAY)) == 1

    monkeypatch.setattr(raw, "BATCH_BYTES", 1)  # every pull its own batch
    assert len(raw.pull_batches(deployment.data_dir, "x", DAY)) > 1
    cut = normalize_day(deployment.data_dir, DAY)

    assert whole.engagement.height > 0
    for name, frame in _sorted(whole).items():
        assert frame.equals(_sorted(cut)[name]), name
