"""A landed pull read back: the one shape the raw landing hands to the normalizers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol


class LandedPage(dict[str, Any]):
    """A page of a pull too large to hold whole (see `RawPull.records`), with the number
    of its line in the landed file, so a quarantined item can be read back from there.
    `plain`: read by orjson (see `RawPull.plain_json`)."""

    def __init__(
        self, record: dict[str, Any], line: int, pages: Rereadable, plain: bool = False
    ) -> None:
        super().__init__(record)
        self.line = line
        self.pages = pages
        self.plain = plain


class Rereadable(Protocol):
    """Pages that are read from their file again on every pass instead of being held."""

    path: Path

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def records_at(self, lines: set[int]) -> dict[int, dict[str, Any]]:
        """The pages on these line numbers, decoded."""
        ...


class FilteredPages:
    """The pages of `pages` that `keep` accepts, chosen again on every pass."""

    def __init__(self, pages: Iterable[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]):
        self._pages = pages
        self._keep = keep

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (page for page in self._pages if self._keep(page))


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
    # Each page as a dict. A list, except for a pull too large to hold as Python objects:
    # then an iterable that reads the file again on every pass (`raw.read_pull`).
    records: Iterable[dict[str, Any]]
    path: Path
    # False for a pull that stopped partway (its header's status is not `success`): its
    # listing may not cover the window, so a post missing from it is not a vanished one.
    complete: bool = True
    # Where the listing began when it began after `window_start` (age-tiered refresh,
    # where older posts are looked up by id only when due); None: at `window_start`.
    listed_from: datetime | None = None
    # True when every page was read by orjson (`raw.read_pull`): the records then hold no
    # NaN, Infinity or integer past 64 bits, so orjson writes them back as `json` would.
    plain_json: bool = False

    def keeping(self, keep: Callable[[dict[str, Any]], bool]) -> RawPull:
        """This pull with only the pages `keep` accepts (still streamed if it was)."""
        if isinstance(self.records, list):
            return replace(self, records=[r for r in self.records if keep(r)])
        return replace(self, records=FilteredPages(self.records, keep))

    @property
    def listing_start(self) -> datetime:
        return self.listed_from or self.window_start

    @property
    def tiered(self) -> bool:
        """Listed less than its window on purpose: older posts' other days carry forward."""
        return self.listing_start > self.window_start
