"""What Graph refused of the insights asked, how a client reads it, and how it remembers it.

Graph fails a whole call when one metric does not hold for one media on it, with (#100)
naming the metric ("does not support the views metric for this media product type", "the
video_views metric is no longer supported"). A client drops that metric, asks again, and
notes each post left without it (`RawPage.notes`, turned into `gaps` rows); a session
remembers the refusal, so the accounts after it do not ask again.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from social_pipeline.clients.errors import ApiError
from social_pipeline.clients.http import ApiSession

_REFUSED_METRIC = re.compile(r"Graph error 100\b.*?\bthe (\w+) metric\b")


def refused_metric(exc: ApiError, metrics: Sequence[str]) -> str | None:
    """The metric a (#100) refusal names, if it is one we asked for."""
    found = _REFUSED_METRIC.search(str(exc))
    return found.group(1) if found and found.group(1) in metrics else None


@dataclass
class Refusals:
    """What Graph refused during one session (one worker's run over its accounts):
    metrics dropped from listings by version, and metrics per version and media type,
    each with Graph's message."""

    listing: dict[tuple[str, str], str] = field(default_factory=dict)
    media: dict[tuple[str, str, str], str] = field(default_factory=dict)


# By `id()` of a live session (ApiSession is an unhashable dataclass); an entry goes when
# its session does.
_REFUSALS: dict[int, Refusals] = {}


def refusals_of(session: ApiSession) -> Refusals:
    """The refusals a session has met (sessions are one per worker thread)."""
    key = id(session)
    if key not in _REFUSALS:
        _REFUSALS[key] = Refusals()
        weakref.finalize(session, _REFUSALS.pop, key, None)
    return _REFUSALS[key]
