"""Access tokens that keep working: read, refreshed, rotated and extended, one refresher at a time.

Where an account's token comes from (platform-apis.md section 7):
- `static`: the token in `token_env`, used as it is (X app bearer, YouTube API key, a Page
  token without app credentials);
- `oauth`: a refresh token (`refresh_token_env`, or a login) and the platform's token
  endpoint: the access token is refreshed shortly before it expires and once after the
  platform answers that it expired; a rotated refresh token is stored (fsync) before the
  new access token is used;
- `meta`: a Meta user or Page token with the facebook app's credentials: `debug_token`
  reads its health, and a user token is extended with `fb_exchange_token` before it expires.

Daily, hourly and retry runs overlap, and every platform has several workers, so a refresh
happens under a per-account lock in the credential store; a waiter re-reads the store and
uses the token the winner saved. Presenting a rotated-away refresh token would kill the
lineage (TikTok and X reject both from then on).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from social_pipeline.clients.oauth import OAuthClient, TokenGrant, login_command
from social_pipeline.clients.redaction import Redactor
from social_pipeline.core.platforms import APP_OF
from social_pipeline.core.settings import Account, Settings, SettingsError
from social_pipeline.storage.credentials import CredentialStore, StoredCredential, lineage_of

# Refresh when less than this is left: a pull takes minutes, not an hour.
REFRESH_MARGIN = timedelta(minutes=10)
# Extend a Meta user token (60 days) when less than this is left.
EXTEND_BEFORE = timedelta(days=10)
# Warn this long before a refresh token or a token that cannot be refreshed expires.
WARN_BEFORE = timedelta(days=14)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def credential_kind(settings: Settings, account: Account) -> str:
    if account.refresh_token_env:
        return "oauth"
    if account.platform in ("facebook", "instagram") and "facebook" in settings.apps:
        return "meta"
    return "static"


@dataclass
class RefreshStats:
    """What a provider did, for job records and the note: refreshes and time under lock."""

    refreshes: int = 0
    extensions: int = 0
    lock_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, refreshes: int = 0, extensions: int = 0, lock_seconds: float = 0.0) -> None:
        with self._lock:
            self.refreshes += refreshes
            self.extensions += extensions
            self.lock_seconds += lock_seconds


class CredentialProvider:
    """Access tokens for a settings' accounts; safe to share between worker threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        redactor: Redactor | None = None,
        clock: Clock = _utcnow,
        oauth_client: Callable[[Account], OAuthClient] | None = None,
    ) -> None:
        self.settings = settings
        self.redactor = redactor or Redactor()
        self.clock = clock
        self.stats = RefreshStats()
        self._oauth_client = oauth_client or self._default_oauth_client
        self._store: CredentialStore | None = None

    @property
    def store(self) -> CredentialStore:
        # Created on first use: accounts with plain environment tokens need no store at all.
        if self._store is None:
            self._store = CredentialStore(self.settings.credentials_dir)
        return self._store

    # -- what collections call -------------------------------------------------------

    def access_token(self, account: Account) -> str:
        """A token to call the platform with now (refreshed or extended when due)."""
        kind = credential_kind(self.settings, account)
        if kind == "oauth":
            token = self._oauth_token(account, rejected=None)
        elif kind == "meta":
            token = self._meta_token(account)
        else:
            token = self.settings.token_for(account)
        self.redactor.add(token)
        return token

    def after_rejection(self, account: Account, rejected: str) -> str | None:
        """A fresh token after the platform refused `rejected`; None when none can be had."""
        if credential_kind(self.settings, account) != "oauth":
            return None
        token = self._oauth_token(account, rejected=rejected)
        self.redactor.add(token)
        return token if token != rejected else None

    # -- OAuth refresh ----------------------------------------------------------------

    def _current(self, account: Account) -> tuple[StoredCredential | None, str]:
        """The stored lineage, unless the environment names a new refresh token (re-auth)."""
        env_refresh = self.settings.secret(account.refresh_token_env)
        origin = lineage_of(env_refresh) if env_refresh else ""
        if env_refresh:
            self.redactor.add(env_refresh)
        stored = self.store.load(account.platform, account.account_id)
        if stored is not None and origin and stored.lineage != origin:
            stored = None  # the owner authorized again: the new refresh token takes over
        return stored, env_refresh

    def _usable(self, cred: StoredCredential | None, rejected: str | None) -> str | None:
        if cred is None or not cred.access_token or cred.access_token == rejected:
            return None
        expires = cred.access_expires_at
        if expires is not None and expires - self.clock() <= REFRESH_MARGIN:
            return None
        return cred.access_token

    def _oauth_token(self, account: Account, rejected: str | None) -> str:
        stored, env_refresh = self._current(account)
        token = self._usable(stored, rejected)
        if token is not None:
            return token
        with self.store.lock(account.platform, account.account_id) as waited:
            self.stats.add(lock_seconds=float(waited))
            # Whoever held the lock may have refreshed already: use what they stored.
            stored, env_refresh = self._current(account)
            token = self._usable(stored, rejected)
            if token is not None:
                return token
            env_access = self.settings.secret(account.token_env)
            if stored is None and env_access and env_access != rejected:
                # First use of a lineage that came with an access token: try it as it is.
                self.store.save(self._fresh(account, env_refresh, env_access, None))
                return env_access
            refresh_token = stored.refresh_token if stored else env_refresh
            if not refresh_token:
                raise SettingsError(
                    f"{account.platform} account {account.account_id} ({account.name}): no "
                    f"refresh token: set {account.refresh_token_env} or run "
                    f"`{login_command(account.platform, account.account_id)}`"
                )
            grant = self._oauth_client(account).refresh(refresh_token, account.account_id)
            self.store.save(self._refreshed(account, stored, env_refresh, refresh_token, grant))
            self.stats.add(refreshes=1)
            return grant.access_token

    def _fresh(
        self, account: Account, refresh: str, access: str, expires: datetime | None
    ) -> StoredCredential:
        return StoredCredential(
            platform=account.platform,
            account_id=account.account_id,
            kind="oauth",
            access_token=access,
            access_expires_at=expires,
            refresh_token=refresh or None,
            refresh_expires_at=None,
            lineage=lineage_of(refresh) if refresh else "",
            last_refresh_at=None,
            refreshes=0,
            scopes=[],
        )

    def _refreshed(
        self,
        account: Account,
        stored: StoredCredential | None,
        env_refresh: str,
        sent: str,
        grant: TokenGrant,
    ) -> StoredCredential:
        base = stored or self._fresh(account, env_refresh, "", None)
        # The OAuth client shares this provider's redactor: new tokens are already known to it.
        return replace(
            base,
            access_token=grant.access_token,
            access_expires_at=grant.expires_at,
            # A rotated token replaces the one sent; platforms that do not rotate keep it.
            refresh_token=grant.refresh_token or sent,
            refresh_expires_at=grant.refresh_expires_at or base.refresh_expires_at,
            last_refresh_at=self.clock(),
            refreshes=base.refreshes + 1,
            scopes=grant.scopes or base.scopes,
        )

    # -- Meta: health and extension ---------------------------------------------------

    def _meta_token(self, account: Account) -> str:
        env_token = self.settings.token_for(account)
        origin = lineage_of(env_token)
        stored = self.store.load(account.platform, account.account_id)
        if stored is not None and stored.lineage != origin:
            stored = None  # a new token in the environment replaces the extended one
        if stored is not None and not self._meta_due(stored):
            return stored.access_token or env_token
        with self.store.lock(account.platform, account.account_id) as waited:
            self.stats.add(lock_seconds=float(waited))
            stored = self.store.load(account.platform, account.account_id)
            if stored is not None and stored.lineage == origin and not self._meta_due(stored):
                return stored.access_token or env_token
            same_lineage = stored is not None and stored.lineage == origin
            token = (stored.access_token if same_lineage else None) or env_token
            client = self._oauth_client(account)
            health = client.debug_meta_token(token)
            kind = "meta_page" if health.expires_at is None else "meta_user"
            cred = StoredCredential(
                platform=account.platform,
                account_id=account.account_id,
                kind=kind,
                access_token=token,
                access_expires_at=health.expires_at,
                refresh_token=None,
                refresh_expires_at=None,
                lineage=origin,
                last_refresh_at=stored.last_refresh_at if stored else None,
                refreshes=stored.refreshes if stored else 0,
                data_access_expires_at=health.data_access_expires_at,
                scopes=list(health.scopes),
            )
            if health.is_valid and kind == "meta_user" and self._meta_due(cred):
                grant = client.extend_meta_token(token, account.account_id)
                self.redactor.add(grant.access_token)
                cred = replace(
                    cred,
                    access_token=grant.access_token,
                    access_expires_at=grant.expires_at,
                    last_refresh_at=self.clock(),
                    refreshes=cred.refreshes + 1,
                )
                self.stats.add(extensions=1)
            self.store.save(cred)
            return cred.access_token or token

    def _meta_due(self, cred: StoredCredential) -> bool:
        if cred.kind == "meta_page":
            return False
        expires = cred.access_expires_at
        return expires is None or expires - self.clock() <= EXTEND_BEFORE

    # -- wiring -----------------------------------------------------------------------

    def _default_oauth_client(self, account: Account) -> OAuthClient:
        app = self.settings.app_for(account)
        if app is None:
            raise SettingsError(
                f"{account.platform} account {account.account_id}: no apps.{APP_OF[account.platform]} "
                f"in {self.settings.accounts_file}; the token cannot be refreshed or extended"
            )
        client_id = self.settings.secret(app.client_id_env)
        secret = self.settings.secret(app.client_secret_env)
        missing = [
            name
            for name, value in ((app.client_id_env, client_id), (app.client_secret_env, secret))
            if name and not value
        ]
        if missing:
            raise SettingsError(
                f"{account.platform} account {account.account_id}: the {app.platform} app's "
                f"credentials are not set: export {' and '.join(missing)}"
            )
        return OAuthClient(
            account.platform,
            self.settings.token_urls[account.platform],
            client_id,
            secret,
            clock=self.clock,
            redactor=self.redactor,
        )


@dataclass(frozen=True)
class CredentialHealth:
    """One account's credential as `auth status` and the asset check show it."""

    platform: str
    account_id: str
    name: str
    kind: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    last_refresh_at: datetime | None
    status: str  # ok | expiring | expired | unknown
    next_step: str


def credential_health(
    settings: Settings, accounts: list[Account], now: datetime
) -> list[CredentialHealth]:
    """What is known of each account's credential from the store, without calling anyone."""
    # A local store is opened only if one exists: a status check creates no folders.
    where = settings.credentials_dir
    exists = not isinstance(where, Path) or where.exists()
    store = CredentialStore(where) if exists else None
    return [_health(settings, account, store, now) for account in accounts]


def _health(
    settings: Settings, account: Account, store: CredentialStore | None, now: datetime
) -> CredentialHealth:
    kind = credential_kind(settings, account)
    stored = store.load(account.platform, account.account_id) if store else None
    login = login_command(account.platform, account.account_id)
    # The date that ends collection unless someone acts: the refresh token's for OAuth,
    # the token's own (or Meta's data-access lapse) for tokens nobody can refresh.
    if kind == "oauth":
        deadline = stored.refresh_expires_at if stored else None
        renew = f"re-authorize before then: {login}"
    elif kind == "meta":
        dates = [
            d
            for d in (
                stored.access_expires_at if stored and stored.kind == "meta_user" else None,
                stored.data_access_expires_at if stored else None,
            )
            if d is not None
        ]
        deadline = min(dates) if dates else None
        renew = "the account owner must use the app again (Meta data access lapses after 90 days)"
    else:
        deadline = None
        renew = f"replace the token in {account.token_env} before it expires"
    if kind != "static" and stored is None:
        status, step = "unknown", "collect once (or `auth login`) to record the credential"
    elif deadline is None:
        status, step = "ok", "nothing: refreshed automatically" if kind != "static" else renew
    elif deadline <= now:
        status, step = "expired", f"expired on {deadline:%Y-%m-%d}; {renew}"
    elif deadline - now <= WARN_BEFORE:
        status, step = "expiring", f"expires on {deadline:%Y-%m-%d}; {renew}"
    else:
        status, step = (
            "ok",
            "nothing yet" if kind == "static" else "nothing: refreshed automatically",
        )
    return CredentialHealth(
        platform=account.platform,
        account_id=account.account_id,
        name=account.name,
        kind=stored.kind if stored else kind,
        access_expires_at=stored.access_expires_at if stored else None,
        refresh_expires_at=stored.refresh_expires_at if stored else None,
        last_refresh_at=stored.last_refresh_at if stored else None,
        status=status,
        next_step=step,
    )
