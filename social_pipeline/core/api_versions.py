"""Is a configured API version close to retirement? A warning text, or None.

Platforms retire versions on a schedule (platform-apis.md §8): LinkedIn serves each
monthly `LinkedIn-Version` for about 12 months, Graph publishes an end-of-life date per
version. Platforms without a schedule here never warn.
"""

from __future__ import annotations

import re
from datetime import date

# LinkedIn: warn once a version is this many months old (it retires at about 12).
LINKEDIN_WARN_MONTHS = 10
# Graph: warn this many days before a version's published end of life.
GRAPH_WARN_DAYS = 90
# Graph versions whose end of life is known (platform-apis.md §8: "Graph v24.0 is
# available until 2028-02-18"). A version missing here never warns.
GRAPH_END_OF_LIFE: dict[str, date] = {"v24.0": date(2028, 2, 18)}
GRAPH_PLATFORMS = ("facebook", "instagram")

_LINKEDIN_VERSION = re.compile(r"^(\d{4})(\d{2})(?:\.\d{2})?$")


def version_warning(platform: str, version: str, today: date) -> str | None:
    """Why `version` of `platform`'s API needs changing soon, or None when it is fine."""
    env = f"SOCIAL_PIPELINE_{platform.upper()}_API_VERSION"
    if platform == "linkedin":
        return _linkedin_warning(version, today, env)
    if platform in GRAPH_PLATFORMS:
        return _graph_warning(version, today, env)
    return None


def _linkedin_warning(version: str, today: date, env: str) -> str | None:
    match = _LINKEDIN_VERSION.match(version)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        return f"LinkedIn-Version {version!r} is not a YYYYMM version; set {env}=YYYYMM"
    age = (today.year * 12 + today.month) - (int(match.group(1)) * 12 + int(match.group(2)))
    if age <= LINKEDIN_WARN_MONTHS:
        return None
    return (
        f"LinkedIn-Version {version} is {age} months old and LinkedIn retires a version "
        f"about 12 months after release; set {env}=YYYYMM to a recent monthly version"
    )


def _graph_warning(version: str, today: date, env: str) -> str | None:
    end = GRAPH_END_OF_LIFE.get(version)
    if end is None:
        return None
    days = (end - today).days
    if days > GRAPH_WARN_DAYS:
        return None
    if days < 0:
        when = f"reached its end of life on {end}"
    else:
        when = f"reaches its end of life on {end}, in {days} days"
    return f"Graph API {version} {when}; set {env} to a newer version (e.g. v25.0)"
