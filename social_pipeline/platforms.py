"""The six platforms the product speaks to, and their real API hosts."""

from __future__ import annotations

PLATFORMS: tuple[str, ...] = ("facebook", "instagram", "x", "linkedin", "youtube", "tiktok")

DEFAULT_BASE_URLS: dict[str, str] = {
    "facebook": "https://graph.facebook.com",
    "instagram": "https://graph.facebook.com",
    "x": "https://api.x.com",
    "linkedin": "https://api.linkedin.com",
    "youtube": "https://www.googleapis.com",
    "tiktok": "https://open.tiktokapis.com",
}


def base_url_env_var(platform: str) -> str:
    """`SOCIAL_PIPELINE_X_BASE_URL` and friends: where a platform's API is reached."""
    return f"SOCIAL_PIPELINE_{platform.upper()}_BASE_URL"
