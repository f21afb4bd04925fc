"""Replaying dead letters: which accounts and days to collect again.

A replay is a run of the raw assets for those accounts and days (and everything
downstream of them), launched like the retry sensor's runs: so it respects the
per-platform pools and records materializations of what it rewrites.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from social_pipeline.core.settings import Settings
from social_pipeline.storage.dead_letters import open_dead_letters


@dataclass(frozen=True)
class ReplayRequest:
    """Collect these accounts of one platform and day again."""

    platform: str
    day: date
    account_ids: tuple[str, ...]

    def run_key(self, request_id: str) -> str:
        return f"replay:{self.platform}:{self.day}:{','.join(self.account_ids)}:{request_id}"


def plan_replay(
    settings: Settings,
    *,
    platform: str | None = None,
    account_id: str | None = None,
    progress: Callable[[str], None] = print,
) -> list[ReplayRequest]:
    """One request per platform and day among the open dead letters (optionally filtered).

    Accounts no longer in the accounts file are skipped: their history stays, but there
    is no token to collect them with.
    """
    known = {(a.platform, a.account_id) for a in settings.accounts}
    groups: dict[tuple[str, date], list[str]] = {}
    for letter in open_dead_letters(settings.data_root):
        if platform is not None and letter["platform"] != platform:
            continue
        if account_id is not None and letter["account_id"] != account_id:
            continue
        key = (letter["platform"], date.fromisoformat(letter["partition_date"]))
        if (letter["platform"], letter["account_id"]) not in known:
            progress(f"{key[0]} {key[1]}: {letter['account_id']} is no longer in the accounts file")
            continue
        groups.setdefault(key, []).append(letter["account_id"])
    return [ReplayRequest(p, day, tuple(sorted(ids))) for (p, day), ids in sorted(groups.items())]
