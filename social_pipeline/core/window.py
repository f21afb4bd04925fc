"""What one collection day means: the window of post creation times a partition covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_WINDOW_DAYS = 28


@dataclass(frozen=True)
class CollectionWindow:
    """Posts created in [start, end) belong to collection day `day`.

    The window is `days` long and ends at the end of `day` (UTC), because metrics keep
    moving for weeks after a post goes out (DESIGN.md, "What one collection day means").
    """

    day: date
    days: int = DEFAULT_WINDOW_DAYS

    @property
    def end(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class RefreshTier:
    """Age-tiered refresh for one platform: a quota plan, not a window change.

    Posts younger than `fresh_days` are read every run; older posts of the window only
    when their last read is `older_every_days` or more days old. The days between keep
    the last numbers read, marked with the day they were read (`read_on`).
    """

    fresh_days: int
    older_every_days: int


@dataclass(frozen=True)
class RefreshPlan:
    """What one account's pull reads under a tier: the listing of its last `listed_days`
    days, then `older_ids` (older posts of the window due for a read), looked up by id."""

    listed_days: int
    older_ids: tuple[str, ...] = ()

    def listing(self, window: CollectionWindow) -> CollectionWindow:
        return CollectionWindow(window.day, min(self.listed_days, window.days))


def parse_day(text: str) -> date:
    """A partition key (`YYYY-MM-DD`) as a date, with an error that says what was wrong."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a day in YYYY-MM-DD form: {text!r}") from exc
