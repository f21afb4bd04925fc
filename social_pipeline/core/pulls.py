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
    # Where the listing began when it began after `window_start` (age-tiered refresh,
    # where older posts are looked up by id only when due); None: at `window_start`.
    listed_from: datetime | None = None

    @property
    def listing_start(self) -> datetime:
        return self.listed_from or self.window_start

    @property
    def tiered(self) -> bool:
        """Listed less than its window on purpose: older posts' other days carry forward."""
        return self.listing_start > self.window_start
