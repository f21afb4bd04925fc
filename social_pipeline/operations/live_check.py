"""`check --live`: one cheap authenticated call per account, and per app where one exists.

An account is checked with its client's `fetch_profile` (one request: the profile a
collection day reads first), using the token a collection would use (refreshed or
extended when due, as `operations.collect` does). Apps have no cheap call of their own
except Meta's: `debug_token` signed with the app's id and secret proves the pair works.
The other token endpoints are only reached by a refresh or a login, and a refresh rotates
TikTok's and X's refresh tokens, so a check must not spend one; those apps are reported
as not checked, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from social_pipeline.clients.errors import ApiError
from social_pipeline.clients.http import RetryPolicy
from social_pipeline.clients.oauth import OAuthClient
from social_pipeline.clients.redaction import Redactor
from social_pipeline.core.settings import Account, AppCredentials, Settings, SettingsError
from social_pipeline.operations.credentials import CredentialProvider
from social_pipeline.operations.registry import client_class, make_session

# A check answers quickly: a transient failure is retried once, a rate limit is not waited on.
CHECK_POLICY = RetryPolicy(max_retries=1, max_rate_limit_wait=0.0, timeout=15.0)
NOT_CHECKED = (
    "not checked: this platform has no cheap app-only call (its token endpoint is reached "
    "only by a refresh, which rotates refresh tokens, or a login)"
)


@dataclass(frozen=True)
class LiveCheck:
    """One row of the `check --live` table."""

    kind: str  # account | app
    platform: str
    account_id: str  # "" for an app
    name: str
    status: str  # ok | failed | not checked
    detail: str


def check_live(
    settings: Settings,
    base_urls: Mapping[str, str],
    *,
    credentials: CredentialProvider | None = None,
    policy: RetryPolicy = CHECK_POLICY,
) -> list[LiveCheck]:
    """Every account, then every app, of the settings: which credentials work now."""
    provider = credentials or CredentialProvider(settings)
    rows = [
        check_account(settings, a, base_urls[a.platform], provider, policy)
        for a in settings.accounts
    ]
    rows += [check_app(settings, app, provider.redactor) for app in settings.apps.values()]
    return rows


def check_account(
    settings: Settings,
    account: Account,
    base_url: str,
    provider: CredentialProvider,
    policy: RetryPolicy = CHECK_POLICY,
) -> LiveCheck:
    """The account's profile, read once with its token; never raises."""
    session = make_session(account.platform, base_url, policy=policy, redactor=Redactor())

    def row(status: str, detail: str) -> LiveCheck:
        text = session.redactor.text(provider.redactor.text(detail))
        return LiveCheck(
            "account", account.platform, account.account_id, account.name, status, text
        )

    try:
        token = provider.access_token(account)
        version = settings.api_versions.get(account.platform)
        extra: dict[str, Any] = {"api_version": version} if version else {}
        client = client_class(account.platform)(session, account.account_id, token, **extra)
        client.fetch_profile()
        return row("ok", f"profile read ({session.stats.api_calls} call)")
    except ApiError as exc:
        exc.account_id = account.account_id
        return row("failed", f"{exc.error_class}: {exc.message}")
    except SettingsError as exc:
        return row("failed", f"config: {exc}")
    finally:
        session.close()


def check_app(settings: Settings, app: AppCredentials, redactor: Redactor) -> LiveCheck:
    """Meta's app: `debug_token` signed with its id and secret. Others: not checked."""

    def row(status: str, detail: str) -> LiveCheck:
        return LiveCheck("app", app.platform, "", f"apps.{app.platform}", status, detail)

    if app.platform != "facebook":
        return row("not checked", NOT_CHECKED)
    client_id = settings.secret(app.client_id_env)
    secret = settings.secret(app.client_secret_env)
    missing = [
        n for n, v in ((app.client_id_env, client_id), (app.client_secret_env, secret)) if not v
    ]
    if missing:
        return row("failed", f"config: export {' and '.join(missing)}")
    redactor.add(client_id)
    redactor.add(secret)
    try:
        with OAuthClient(
            "facebook", settings.token_urls["facebook"], client_id, secret, redactor=redactor
        ) as client:
            # The app's own token as the input: valid or not, an answer proves the signature.
            client.debug_meta_token(f"{client_id}|{secret}")
    except ApiError as exc:
        return row("failed", redactor.text(f"{exc.error_class}: {exc.message}"))
    return row("ok", "debug_token accepted the app id and secret")
