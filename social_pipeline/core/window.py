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


def parse_day(text: str) -> date:
    """A partition key (`YYYY-MM-DD`) as a date, with an error that says what was wrong."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a day in YYYY-MM-DD form: {text!r}") from exc
