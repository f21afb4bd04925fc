"""A landed pull read back: the one shape the raw landing hands to the normalizers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any


@dataclass
class RawPull:
    """One account's landed pull for one day, read back for normalizing."""

    platform: str
    account_id: str
    partition_date: date
    window_start: datetime
    window_end: datetime
    collected_at: datetime
    job_id: str
    records: list[dict[str, Any]]
    path: Path
    # False for a pull that stopped partway (its header's status is not `success`): its
    # listing may not cover the window, so a post missing from it is not a vanished one.
    complete: bool = True
    # Where the listing began: `window_start`, or later under age-tiered refresh, where
    # older posts are looked up by id only when due (their other days carry forward).
    listed_from: datetime | None = None

    def __post_init__(self) -> None:
        if self.listed_from is None:
            self.listed_from = self.window_start
