"""The accounts file and the environment, validated once, with errors that say how to fix them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import yaml

from social_pipeline.core.platforms import (
    APP_OF,
    DEFAULT_AUTHORIZE_URLS,
    DEFAULT_BASE_URLS,
    DEFAULT_TOKEN_URLS,
    PLATFORMS,
    REFRESHABLE,
    authorize_url_env_var,
    base_url_env_var,
    token_url_env_var,
)
from social_pipeline.core.window import DEFAULT_WINDOW_DAYS

ACCOUNTS_ENV = "SOCIAL_PIPELINE_ACCOUNTS"
DATA_DIR_ENV = "SOCIAL_PIPELINE_DATA_DIR"
WINDOW_DAYS_ENV = "SOCIAL_PIPELINE_WINDOW_DAYS"
MAX_WAIT_ENV = "SOCIAL_PIPELINE_MAX_RATE_LIMIT_WAIT"
START_DATE_ENV = "SOCIAL_PIPELINE_START_DATE"
SANDBOX_ACCOUNTS_ENV = "SOCIAL_PIPELINE_SANDBOX_ACCOUNTS"
MAX_ATTEMPTS_ENV = "SOCIAL_PIPELINE_MAX_ATTEMPTS"
RETRY_BACKOFF_ENV = "SOCIAL_PIPELINE_RETRY_BACKOFF_SECONDS"
BACKFILL_DAYS_ENV = "SOCIAL_PIPELINE_NEW_ACCOUNT_BACKFILL_DAYS"
SANDBOX_POSTS_PER_DAY_ENV = "SOCIAL_PIPELINE_SANDBOX_POSTS_PER_DAY"
CREDENTIALS_DIR_ENV = "SOCIAL_PIPELINE_CREDENTIALS_DIR"
X_INCLUDE_RETWEETS_ENV = "SOCIAL_PIPELINE_X_INCLUDE_RETWEETS"

# Sandbox accounts read their token from here; unset, the emulator's public token is used.
SANDBOX_TOKEN_ENV = "SOCIAL_PIPELINE_SANDBOX_TOKEN"
SANDBOX_DEFAULT_TOKEN = "sandbox-token-not-secret"
# Sandbox tokens are `<default>.<account id>`: one per account, as real tokens are.
SANDBOX_TOKEN_SEPARATOR = "."

# Platforms whose API version is in the request and retires on a schedule.
VERSIONED_PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok")

DEFAULT_START_DATE = date(2026, 1, 1)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """The accounts file or environment is wrong; the message says where and how to fix it."""


@dataclass(frozen=True)
class AppCredentials:
    """A platform's OAuth app: the NAMES of the variables holding its id and secret."""

    platform: str
    client_id_env: str
    client_secret_env: str = ""  # X public clients have none


@dataclass(frozen=True)
class Account:
    platform: str
    account_id: str
    name: str
    token_env: str  # "" when only a refresh token is named
    refresh_token_env: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account_id}"


@dataclass(frozen=True)
class Settings:
    accounts: tuple[Account, ...]
    data_dir: Path
    base_urls: Mapping[str, str]
    accounts_file: Path | None = None  # None: the built-in sandbox
    window_days: int = DEFAULT_WINDOW_DAYS
    max_rate_limit_wait: float = 60.0
    start_date: date = DEFAULT_START_DATE
    max_attempts: int = 4  # per account and day, before a dead letter
    retry_backoff_seconds: int = 300  # first retry backoff, doubled per attempt
    new_account_backfill_days: int = 0
    # `api_<platform>` pool limits from SOCIAL_PIPELINE_POOL_LIMIT_<PLATFORM>, where set.
    pool_limits: Mapping[str, int] = field(default_factory=dict)
    sandbox_accounts_per_platform: int = 2
    sandbox_posts_per_day: float = 2.0
    overridden_base_urls: frozenset[str] = field(default_factory=frozenset)
    # SOCIAL_PIPELINE_<PLATFORM>_API_VERSION: e.g. v25.0 for Graph, 202601 for LinkedIn.
    api_versions: Mapping[str, str] = field(default_factory=dict)
    # `apps:` of the accounts file, by app platform (`facebook` serves Instagram too).
    apps: Mapping[str, AppCredentials] = field(default_factory=dict)
    credentials_dir: Path = Path("data/credentials")
    token_urls: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TOKEN_URLS))
    authorize_urls: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_AUTHORIZE_URLS))
    # Ask X timelines for retweets too (they are flagged, never stored as the account's posts).
    x_include_retweets: bool = False
    # How a token variable is read; Dagster passes one going through EnvVar.
    token_lookup: Callable[[str], str | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def is_sandbox(self) -> bool:
        return self.accounts_file is None

    def accounts_for(self, platform: str, only: set[str] | None = None) -> list[Account]:
        return [
            a
            for a in self.accounts
            if a.platform == platform and (not only or a.account_id in only)
        ]

    def secret(self, name: str, environ: Mapping[str, str] | None = None) -> str:
        """The value of the environment variable `name` (a token or secret), read now."""
        if not name:
            return ""
        if environ is not None:
            value = environ.get(name, "")
        elif self.token_lookup is not None:
            value = self.token_lookup(name) or ""
        else:
            value = os.environ.get(name, "")
        return value.strip()

    def app_for(self, account: Account) -> AppCredentials | None:
        return self.apps.get(APP_OF[account.platform])

    def token_for(self, account: Account, environ: Mapping[str, str] | None = None) -> str:
        """The account's access token, read from its environment variable at call time."""
        value = self.secret(account.token_env, environ)
        if not value and self.is_sandbox and account.token_env == SANDBOX_TOKEN_ENV:
            return f"{SANDBOX_DEFAULT_TOKEN}{SANDBOX_TOKEN_SEPARATOR}{account.account_id}"
        if not value.strip():
            raise SettingsError(
                f"{account.platform} account {account.account_id} ({account.name}): "
                f"environment variable {account.token_env} is not set or empty; "
                f"export {account.token_env}=<access token>"
            )
        return value.strip()


def _read_accounts_file(path: Path) -> dict:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(
            f"{where}: accounts file not found; fix {ACCOUNTS_ENV} or create the file"
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SettingsError(f"{where}: malformed YAML{at}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("accounts"), list):
        raise SettingsError(f"{where}: expected a top-level 'accounts:' list of entries")
    return doc


def _env_name(value: object, here: str, key: str) -> str:
    name = str(value or "").strip()
    if name and not _ENV_NAME.match(name):
        raise SettingsError(
            f"{here}: {key} {name!r} is not an environment variable name "
            "(put the variable's name here, never the token or secret itself)"
        )
    return name


def load_apps(path: Path, doc: dict | None = None) -> dict[str, AppCredentials]:
    """The `apps:` section: per platform, the variables naming the OAuth client."""
    doc = _read_accounts_file(path) if doc is None else doc
    section = doc.get("apps") or {}
    where = f"{path}: apps"
    if not isinstance(section, dict):
        raise SettingsError(
            f"{where}: expected a mapping of platform -> client_id_env/client_secret_env"
        )
    apps: dict[str, AppCredentials] = {}
    for platform, entry in section.items():
        here = f"{where}.{platform}"
        if platform not in set(APP_OF.values()):
            raise SettingsError(
                f"{here}: unknown app platform; use one of {', '.join(sorted(set(APP_OF.values())))}"
                " (Instagram uses the facebook app)"
            )
        if not isinstance(entry, dict):
            raise SettingsError(f"{here}: expected client_id_env and client_secret_env")
        client_id_env = _env_name(entry.get("client_id_env"), here, "client_id_env")
        client_secret_env = _env_name(entry.get("client_secret_env"), here, "client_secret_env")
        if not client_id_env:
            raise SettingsError(
                f"{here}: client_id_env is missing; name the variable holding the client id"
            )
        if not client_secret_env and platform != "x":
            raise SettingsError(
                f"{here}: client_secret_env is missing; name the variable holding the client secret"
            )
        apps[platform] = AppCredentials(platform, client_id_env, client_secret_env)
    return apps


def load_accounts(path: Path, doc: dict | None = None) -> tuple[Account, ...]:
    """Parse and validate an accounts file (DESIGN.md, "Accounts file")."""
    where = str(path)
    doc = _read_accounts_file(path) if doc is None else doc
    apps = load_apps(path, doc)
    accounts: list[Account] = []
    seen: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(doc["accounts"], start=1):
        here = f"{where}: accounts entry {index}"
        if not isinstance(entry, dict):
            raise SettingsError(
                f"{here}: expected a mapping with platform, account_id, name, token_env"
            )
        platform = str(entry.get("platform", "")).strip().lower()
        if platform not in PLATFORMS:
            raise SettingsError(
                f"{here}: unknown platform {entry.get('platform')!r}; use one of {', '.join(PLATFORMS)}"
            )
        account_id = str(entry.get("account_id", "") or "").strip()
        if not account_id:
            raise SettingsError(
                f"{here} ({platform}): account_id is missing; add the platform's own id"
            )
        here = f"{here} ({platform} {account_id})"
        token_env = _env_name(entry.get("token_env"), here, "token_env")
        refresh_env = _env_name(entry.get("refresh_token_env"), here, "refresh_token_env")
        if refresh_env and platform not in REFRESHABLE:
            raise SettingsError(
                f"{here}: {platform} has no refresh tokens; name the long-lived user or Page "
                "token in token_env (with apps.facebook set, user tokens are extended before "
                "they expire)"
            )
        if not token_env and not refresh_env:
            raise SettingsError(
                f"{here}: token_env is missing or empty; name the environment variable that holds the token"
                + (" (or refresh_token_env for a refresh token)" if platform in REFRESHABLE else "")
            )
        if refresh_env and APP_OF[platform] not in apps:
            app = APP_OF[platform]
            raise SettingsError(
                f"{here}: refresh_token_env needs the {app} app's client credentials, and "
                f"{where} has no apps.{app}; add\n  apps:\n    {app}: "
                "{client_id_env: <VAR WITH CLIENT ID>, client_secret_env: <VAR WITH SECRET>}"
            )
        key = (platform, account_id)
        if key in seen:
            raise SettingsError(
                f"{here}: duplicate of entry {seen[key]}; each platform account may appear once"
            )
        seen[key] = index
        name = str(entry.get("name") or account_id)
        accounts.append(Account(platform, account_id, name, token_env, refresh_env))
    return tuple(accounts)


def check_tokens(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """One message per account whose token variables are unset, and per app variable unset.

    An account with a refresh token needs either variable set (a login fills the
    credential store instead: `auth status` says whether it has).
    """
    problems = []
    for account in settings.accounts:
        if account.refresh_token_env:
            if not (
                settings.secret(account.refresh_token_env, environ)
                or settings.secret(account.token_env, environ)
            ):
                problems.append(
                    f"{account.platform} account {account.account_id} ({account.name}): "
                    f"{account.refresh_token_env} is not set or empty; export it, or run "
                    f"`social-pipeline auth login {account.platform} --account={account.account_id}`"
                )
            continue
        try:
            settings.token_for(account, environ)
        except SettingsError as exc:
            problems.append(str(exc))
    for app in settings.apps.values():
        for name in (app.client_id_env, app.client_secret_env):
            if name and not settings.secret(name, environ):
                problems.append(f"apps.{app.platform}: environment variable {name} is not set")
    return problems


def _number_env(
    env: Mapping[str, str], name: str, default: N, minimum: N, kind: type[N], what: str
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {what}") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _int_env(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    return _number_env(env, name, default, minimum, int, "a whole number")


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    return _number_env(env, name, default, 0.0, float, "a number")


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _bool_env(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise SettingsError(f"{name}={raw!r} is not a boolean; use true or false (also 1/0, yes/no)")


def start_date(environ: Mapping[str, str] | None = None) -> date:
    """The first daily partition. Read alone, so defining partitions loads no accounts file."""
    env = os.environ if environ is None else environ
    raw = env.get(START_DATE_ENV, "").strip()
    try:
        return date.fromisoformat(raw) if raw else DEFAULT_START_DATE
    except ValueError:
        raise SettingsError(f"{START_DATE_ENV}={raw!r} is not a YYYY-MM-DD date") from None


def load_settings(
    environ: Mapping[str, str] | None = None,
    token_lookup: Callable[[str], str | None] | None = None,
) -> Settings:
    """Settings from the environment (DESIGN.md, "Environment")."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get(DATA_DIR_ENV, "").strip() or "data").absolute()
    overridden = frozenset(p for p in PLATFORMS if env.get(base_url_env_var(p), "").strip())
    base_urls = {
        p: env.get(base_url_env_var(p), "").strip().rstrip("/") or DEFAULT_BASE_URLS[p]
        for p in PLATFORMS
    }
    sandbox_n = _int_env(env, SANDBOX_ACCOUNTS_ENV, 2)
    common = dict(
        data_dir=data_dir,
        base_urls=base_urls,
        window_days=_int_env(env, WINDOW_DAYS_ENV, DEFAULT_WINDOW_DAYS),
        max_rate_limit_wait=_float_env(env, MAX_WAIT_ENV, 60.0),
        start_date=start_date(env),
        max_attempts=_int_env(env, MAX_ATTEMPTS_ENV, 4),
        retry_backoff_seconds=_int_env(env, RETRY_BACKOFF_ENV, 300, minimum=0),
        new_account_backfill_days=_int_env(env, BACKFILL_DAYS_ENV, 0, minimum=0),
        pool_limits={
            f"api_{p}": _int_env(env, f"SOCIAL_PIPELINE_POOL_LIMIT_{p.upper()}", 1)
            for p in PLATFORMS
            if env.get(f"SOCIAL_PIPELINE_POOL_LIMIT_{p.upper()}", "").strip()
        },
        sandbox_accounts_per_platform=sandbox_n,
        sandbox_posts_per_day=_float_env(env, SANDBOX_POSTS_PER_DAY_ENV, 2.0),
        overridden_base_urls=overridden,
        api_versions={
            p: env[f"SOCIAL_PIPELINE_{p.upper()}_API_VERSION"].strip()
            for p in VERSIONED_PLATFORMS
            if env.get(f"SOCIAL_PIPELINE_{p.upper()}_API_VERSION", "").strip()
        },
        x_include_retweets=_bool_env(env, X_INCLUDE_RETWEETS_ENV, False),
        token_lookup=token_lookup,
        credentials_dir=Path(
            env.get(CREDENTIALS_DIR_ENV, "").strip() or data_dir / "credentials"
        ).absolute(),
        token_urls={
            p: env.get(token_url_env_var(p), "").strip() or DEFAULT_TOKEN_URLS[p] for p in PLATFORMS
        },
        authorize_urls={
            p: env.get(authorize_url_env_var(p), "").strip() or DEFAULT_AUTHORIZE_URLS[p]
            for p in PLATFORMS
        },
    )
    accounts_path = env.get(ACCOUNTS_ENV, "").strip()
    if accounts_path:
        path = Path(accounts_path).absolute()
        doc = _read_accounts_file(path)
        return Settings(
            accounts=load_accounts(path, doc),
            apps=load_apps(path, doc),
            accounts_file=path,
            **common,
        )
    # No accounts file: the built-in sandbox. Its accounts are the emulator's to name;
    # `social_pipeline.environment` fills them in (settings never reach into the sandbox).
    return Settings(accounts=(), accounts_file=None, **common)


def is_sandbox_environment(environ: Mapping[str, str] | None = None) -> bool:
    """True when no accounts file is configured: the product runs on its built-in sandbox."""
    env = os.environ if environ is None else environ
    return not env.get(ACCOUNTS_ENV, "").strip()
