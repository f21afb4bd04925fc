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
