"""The one platform registry: each platform key's client, normalizer and field map.

A plain mapping, so a reader (or a type checker) sees every platform's code from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from social_pipeline.clients import PlatformClient, open_session
from social_pipeline.clients import facebook as facebook_client
from social_pipeline.clients import instagram as instagram_client
from social_pipeline.clients import linkedin as linkedin_client
from social_pipeline.clients import tiktok as tiktok_client
from social_pipeline.clients import x as x_client
from social_pipeline.clients import youtube as youtube_client
from social_pipeline.clients.http import ApiSession
from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.pulls import RawPull
from social_pipeline.normalize import facebook, instagram, linkedin, tiktok, x, youtube
from social_pipeline.normalize.common import PlatformFrames


@dataclass(frozen=True)
class PlatformCode:
    client: type[PlatformClient]
    normalize: Callable[[list[RawPull]], PlatformFrames]
    field_map: list[tuple[str, str]]
    content_types: Mapping[str, str]


REGISTRY: dict[str, PlatformCode] = {
    "facebook": PlatformCode(
        facebook_client.FacebookClient,
        facebook.normalize,
        facebook.FIELD_MAP,
        facebook.CONTENT_TYPE_MAP,
    ),
    "instagram": PlatformCode(
        instagram_client.InstagramClient,
        instagram.normalize,
        instagram.FIELD_MAP,
        instagram.CONTENT_TYPE_MAP,
    ),
    "x": PlatformCode(x_client.XClient, x.normalize, x.FIELD_MAP, x.CONTENT_TYPE_MAP),
    "linkedin": PlatformCode(
        linkedin_client.LinkedInClient,
        linkedin.normalize,
        linkedin.FIELD_MAP,
        linkedin.CONTENT_TYPE_MAP,
    ),
    "youtube": PlatformCode(
        youtube_client.YouTubeClient,
        youtube.normalize,
        youtube.FIELD_MAP,
        youtube.CONTENT_TYPE_MAP,
    ),
    "tiktok": PlatformCode(
        tiktok_client.TikTokClient, tiktok.normalize, tiktok.FIELD_MAP, tiktok.CONTENT_TYPE_MAP
    ),
}
assert tuple(REGISTRY) == PLATFORMS, "the registry lists every platform, in PLATFORMS order"


def platform_code(platform: str) -> PlatformCode:
    try:
        return REGISTRY[platform]
    except KeyError:
        raise ValueError(
            f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}"
        ) from None


def client_class(platform: str) -> type[PlatformClient]:
    return platform_code(platform).client


def make_session(platform: str, base_url: str, **options: Any) -> ApiSession:
    """A session for `platform` (`policy=`, `redactor=` as `clients.open_session` takes)."""
    return open_session(client_class(platform), platform, base_url, **options)
