"""Replaying dead letters: collect those accounts again, then refresh their days downstream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from social_pipeline.collect import collect_platform
from social_pipeline.recovery import open_dead_letters
from social_pipeline.settings import Settings
from social_pipeline.store import store_day
from social_pipeline.warehouse import build_warehouse


def group_letters(letters: list[dict[str, Any]]) -> dict[tuple[str, date], list[str]]:
    groups: dict[tuple[str, date], list[str]] = {}
    for letter in letters:
        key = (letter["platform"], date.fromisoformat(letter["partition_date"]))
        groups.setdefault(key, []).append(letter["account_id"])
    return groups


def replay_dead_letters(
    settings: Settings,
    base_urls: dict[str, str],
    *,
    platform: str | None = None,
    account_id: str | None = None,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Re-collect every open dead letter (optionally one platform/account); returns the jobs."""
    letters = [
        letter
        for letter in open_dead_letters(settings.data_dir)
        if (platform is None or letter["platform"] == platform)
        and (account_id is None or letter["account_id"] == account_id)
    ]
    known = {(a.platform, a.account_id) for a in settings.accounts}
    jobs: list[dict[str, Any]] = []
    days: set[date] = set()
    for (letter_platform, day), ids in sorted(group_letters(letters).items()):
        ids = [i for i in ids if (letter_platform, i) in known]
        if not ids:
            progress(f"{letter_platform} {day}: accounts no longer in the accounts file, skipped")
            continue
        pull = collect_platform(
            settings, letter_platform, day, base_url=base_urls[letter_platform], only_accounts=ids
        )
        jobs.extend(pull.jobs)
        days.add(day)
        progress(f"{letter_platform} {day}: replayed {len(ids)} accounts, {pull.ok} succeeded")
    for day in sorted(days):
        store_day(settings.data_dir, day)
    if days:
        build_warehouse(settings.data_dir)
    return jobs
