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


# Graph API timestamps (`2026-11-20T08:15:00+0000`), read by the client and the normalizers.
GRAPH_TIME = "%Y-%m-%dT%H:%M:%S%z"


# OAuth (platform-apis.md section 7). Graph tokens are Meta's: Instagram uses the facebook app.
APP_OF: dict[str, str] = {p: "facebook" if p == "instagram" else p for p in PLATFORMS}
# Platforms whose accounts may name a refresh token (Meta extends tokens instead).
REFRESHABLE = ("x", "linkedin", "youtube", "tiktok")
# Refresh tokens that rotate: the one sent dies when the answer carries a new one.
ROTATING = ("x", "tiktok")
GRAPH_OAUTH_VERSION = "v24.0"

# Per app; each platform's entry is its app's (`APP_OF`).
_APP_TOKEN_URLS: dict[str, str] = {
    "facebook": f"https://graph.facebook.com/{GRAPH_OAUTH_VERSION}/oauth/access_token",
    "x": "https://api.x.com/2/oauth2/token",
    "linkedin": "https://www.linkedin.com/oauth/v2/accessToken",
    "youtube": "https://oauth2.googleapis.com/token",
    "tiktok": "https://open.tiktokapis.com/v2/oauth/token/",
}
_APP_AUTHORIZE_URLS: dict[str, str] = {
    "facebook": f"https://www.facebook.com/{GRAPH_OAUTH_VERSION}/dialog/oauth",
    "x": "https://x.com/i/oauth2/authorize",
    "linkedin": "https://www.linkedin.com/oauth/v2/authorization",
    "youtube": "https://accounts.google.com/o/oauth2/v2/auth",
    "tiktok": "https://www.tiktok.com/v2/auth/authorize/",
}
DEFAULT_TOKEN_URLS: dict[str, str] = {p: _APP_TOKEN_URLS[APP_OF[p]] for p in PLATFORMS}
DEFAULT_AUTHORIZE_URLS: dict[str, str] = {p: _APP_AUTHORIZE_URLS[APP_OF[p]] for p in PLATFORMS}

# What `auth login` asks for: read-only analytics of the account being connected.
LOGIN_SCOPES: dict[str, str] = {
    "facebook": "pages_show_list,pages_read_engagement,read_insights",
    "instagram": "instagram_basic,instagram_manage_insights,pages_show_list",
    "x": "tweet.read users.read offline.access",
    "linkedin": "r_organization_social rw_organization_admin",
    "youtube": "https://www.googleapis.com/auth/youtube.readonly",
    "tiktok": "user.info.basic,user.info.stats,video.list",
}


def token_url_env_var(platform: str) -> str:
    return f"SOCIAL_PIPELINE_{platform.upper()}_TOKEN_URL"


def authorize_url_env_var(platform: str) -> str:
    return f"SOCIAL_PIPELINE_{platform.upper()}_AUTHORIZE_URL"
