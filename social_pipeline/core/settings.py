"""The accounts file and the environment, validated once, with errors that say how to fix them."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
from social_pipeline.core.window import DEFAULT_WINDOW_DAYS, RefreshTier

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
# The local DuckDB file built from the lake; needed when the data dir is an s3:// URL.
WAREHOUSE_ENV = "SOCIAL_PIPELINE_WAREHOUSE"
OBJECT_STORE_SCHEMES = ("s3://",)
X_INCLUDE_RETWEETS_ENV = "SOCIAL_PIPELINE_X_INCLUDE_RETWEETS"
# A Slack-compatible incoming webhook told of failed collections and new dead letters.
WEBHOOK_URL_ENV = "SOCIAL_PIPELINE_WEBHOOK_URL"

# Sandbox accounts read their token from here; unset, the emulator's public token is used.
SANDBOX_TOKEN_ENV = "SOCIAL_PIPELINE_SANDBOX_TOKEN"
SANDBOX_DEFAULT_TOKEN = "sandbox-token-not-secret"
# Sandbox tokens are `<default>.<account id>`: one per account, as real tokens are.
SANDBOX_TOKEN_SEPARATOR = "."

# Platforms whose API version is in the request and retires on a schedule.
VERSIONED_PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok")
# Platforms whose posts can be read by id in batches, where reading old posts less often
# saves money (X bills each post read) or quota (YouTube's daily units).
TIERED_PLATFORMS = ("x", "youtube")

DEFAULT_START_DATE = date(2026, 1, 1)  # only for Settings built in code; the environment
# default is a recent week (or the first collected day), so a fresh install shows no
# months of "missing" partitions.
DEFAULT_START_DAYS_BACK = 7
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
    # Local folder of the warehouse and its files; also the data root unless that is in
    # object storage (`data_url`).
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
    # Where credentials live: a folder, or an s3:// URL under the data root.
    credentials_dir: Path | str = Path("data/credentials")
    # SOCIAL_PIPELINE_DATA_DIR as a location: the absolute folder, or an s3://bucket/prefix
    # URL for raw landing, the lake, job records, dead letters and credentials ("" = data_dir).
    data_url: str = ""
    # SOCIAL_PIPELINE_WAREHOUSE: the DuckDB file (default <data_dir>/warehouse.duckdb).
    warehouse_file: Path | None = None
    token_urls: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TOKEN_URLS))
    authorize_urls: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_AUTHORIZE_URLS))
    # Ask X timelines for retweets too (they are flagged, never stored as the account's posts).
    x_include_retweets: bool = False
    # SOCIAL_PIPELINE_<PLATFORM>_TIERED_REFRESH=<fresh days>,<older every days>.
    refresh_tiers: Mapping[str, RefreshTier] = field(default_factory=dict)
    # SOCIAL_PIPELINE_WEBHOOK_URL: where failures and dead letters are posted ("" = nowhere).
    webhook_url: str = field(default="", repr=False)
    # How a token variable is read; Dagster passes one going through EnvVar.
    token_lookup: Callable[[str], str | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def is_sandbox(self) -> bool:
        return self.accounts_file is None

    @property
    def data_root(self) -> str:
        """Where raw pages, the lake, job records and dead letters live (a folder or URL)."""
        return self.data_url or str(self.data_dir)

    @property
    def warehouse(self) -> Path:
        return self.warehouse_file or self.data_dir / "warehouse.duckdb"

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


ACCOUNT_KEYS = ("platform", "account_id", "name", "token_env", "refresh_token_env")
APP_KEYS = ("client_id_env", "client_secret_env")
TOP_KEYS = ("accounts", "apps")
SECRET_KEYS = frozenset({"token_env", "refresh_token_env", "client_id_env", "client_secret_env"})


def mask(value: str) -> str:
    """What a message may show of a value that could be a secret: 4 characters and a length."""
    text = str(value)
    if len(text) < 12:
        return f"<{len(text)} characters, hidden>"
    return f"'{text[:4]}…' ({len(text)} characters, the rest hidden)"


def looks_like_secret(value: str) -> bool:
    """True for a value that reads like a token or key rather than a variable name.

    Variable names are short upper-case words; tokens are long, mixed-case and carry
    digits (`EAAB…`, `ya29.…`, `AIza…`) or punctuation no name may hold.
    """
    text = str(value).strip()
    if not text:
        return False
    if not _ENV_NAME.match(text):
        return len(text) >= 8 or any(c in text for c in "-.~+/=")
    mixed = any(c.islower() for c in text) and any(c.isdigit() for c in text)
    return (len(text) >= 24 and mixed) or len(text) >= 64


def shown(value: object) -> str:
    """A user-supplied value for a message: quoted, or masked when it could be a secret."""
    text = str(value)
    return mask(text) if looks_like_secret(text) else repr(text)


def _did_you_mean(key: object, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return f"unknown key {shown(key)}; {hint}"


def _raise_all(where: object, problems: list[str]) -> None:
    """One error for every mistake found, so a user fixes the file in one pass."""
    if not problems:
        return
    if len(problems) == 1:
        raise SettingsError(problems[0])
    lines = "\n".join(f"  - {p}" for p in problems)
    raise SettingsError(f"{where}: {len(problems)} problems:\n{lines}")


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
        # The parser quotes the offending line, which may hold a pasted token: no excerpt.
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise SettingsError(f"{where}: malformed YAML{at}: {problem}") from None
    if isinstance(doc, dict) and "accounts" in doc and doc["accounts"] is None:
        doc = {**doc, "accounts": []}  # `accounts:` with nothing under it: empty, `check` warns
    if not isinstance(doc, dict) or not isinstance(doc.get("accounts"), list):
        unknown = [k for k in doc if k not in TOP_KEYS] if isinstance(doc, dict) else []
        hints = "".join(f"; {_did_you_mean(k, TOP_KEYS)}" for k in unknown)
        raise SettingsError(f"{where}: expected a top-level 'accounts:' list of entries{hints}")
    return doc


def _env_name(value: object, here: str, key: str, problems: list[str]) -> str:
    """The variable name in `key`; a token pasted there is refused and never echoed."""
    name = str(value or "").strip()
    if not name:
        return ""
    if looks_like_secret(name):
        problems.append(
            f"{here}: {key} {shown(name)} is not an environment variable name; it looks "
            "like a token or secret: put it in a variable and name the variable here (and "
            "revoke it if this file was shared)"
        )
        return ""
    if not _ENV_NAME.match(name):
        problems.append(
            f"{here}: {key} {name!r} is not an environment variable name (letters, digits "
            "and _; put the variable's name here, never the token or secret itself)"
        )
        return ""
    return name


def _app_problems(path: Path, doc: dict) -> tuple[dict[str, AppCredentials], list[str]]:
    section = doc.get("apps") or {}
    where = f"{path}: apps"
    if not isinstance(section, dict):
        return {}, [f"{where}: expected a mapping of platform -> client_id_env/client_secret_env"]
    apps: dict[str, AppCredentials] = {}
    problems: list[str] = []
    app_platforms = sorted(set(APP_OF.values()))
    for platform, entry in section.items():
        here = f"{where}.{platform}"
        if platform not in app_platforms:
            close = difflib.get_close_matches(str(platform), app_platforms, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                f"{where}: unknown app platform {shown(platform)}; {hint}use one of "
                f"{', '.join(app_platforms)} (Instagram uses the facebook app)"
            )
            continue
        if not isinstance(entry, dict):
            problems.append(f"{here}: expected client_id_env and client_secret_env")
            continue
        problems += [f"{here}: {_did_you_mean(k, APP_KEYS)}" for k in entry if k not in APP_KEYS]
        found = len(problems)
        client_id_env = _env_name(entry.get("client_id_env"), here, "client_id_env", problems)
        client_secret_env = _env_name(
            entry.get("client_secret_env"), here, "client_secret_env", problems
        )
        if not str(entry.get("client_id_env") or "").strip():
            problems.append(
                f"{here}: client_id_env is missing; name the variable holding the client id"
            )
        if not str(entry.get("client_secret_env") or "").strip() and platform != "x":
            problems.append(
                f"{here}: client_secret_env is missing; name the variable holding the client secret"
            )
        if len(problems) == found and client_id_env:
            apps[platform] = AppCredentials(platform, client_id_env, client_secret_env)
    return apps, problems


def load_apps(path: Path, doc: dict | None = None) -> dict[str, AppCredentials]:
    """The `apps:` section: per platform, the variables naming the OAuth client."""
    doc = _read_accounts_file(path) if doc is None else doc
    apps, problems = _app_problems(path, doc)
    _raise_all(path, problems)
    return apps


def load_accounts(path: Path, doc: dict | None = None) -> tuple[Account, ...]:
    """Parse and validate an accounts file (DESIGN.md, "Accounts file").

    Every mistake is collected, then raised as one error that lists them all, each
    naming the file and entry.
    """
    where = str(path)
    doc = _read_accounts_file(path) if doc is None else doc
    apps, problems = _app_problems(path, doc)
    problems = [f"{where}: {_did_you_mean(k, TOP_KEYS)}" for k in doc if k not in TOP_KEYS] + (
        problems
    )
    accounts: list[Account] = []
    seen: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(doc["accounts"], start=1):
        here = f"{where}: accounts entry {index}"
        if not isinstance(entry, dict):
            problems.append(
                f"{here}: expected a mapping with platform, account_id, name, token_env"
            )
            continue
        found = len(problems)
        platform = str(entry.get("platform", "")).strip().lower()
        account_id = str(entry.get("account_id", "") or "").strip()
        if platform not in PLATFORMS:
            close = difflib.get_close_matches(platform, PLATFORMS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                f"{here}: unknown platform {shown(entry.get('platform'))}; {hint}"
                f"use one of {', '.join(PLATFORMS)}"
            )
        if not account_id:
            problems.append(
                f"{here} ({platform}): account_id is missing; add the platform's own id"
            )
        here = f"{here} ({platform} {account_id})" if account_id else f"{here} ({platform})"
        problems += [
            f"{here}: {_did_you_mean(k, ACCOUNT_KEYS)}" for k in entry if k not in ACCOUNT_KEYS
        ]
        token_env = _env_name(entry.get("token_env"), here, "token_env", problems)
        refresh_env = _env_name(entry.get("refresh_token_env"), here, "refresh_token_env", problems)
        named = {k for k in ("token_env", "refresh_token_env") if str(entry.get(k) or "").strip()}
        refreshable = platform in REFRESHABLE
        if refresh_env and platform in PLATFORMS and not refreshable:
            problems.append(
                f"{here}: {platform} has no refresh tokens; name the long-lived user or Page "
                "token in token_env (with apps.facebook set, user tokens are extended before "
                "they expire)"
            )
        if not named:
            problems.append(
                f"{here}: token_env is missing or empty; name the environment variable that holds the token"
                + (" (or refresh_token_env for a refresh token)" if refreshable else "")
            )
        if refresh_env and platform in APP_OF and APP_OF[platform] not in apps:
            app = APP_OF[platform]
            if app not in (doc.get("apps") or {}):  # a broken apps entry is reported already
                problems.append(
                    f"{here}: refresh_token_env needs the {app} app's client credentials, and "
                    f"{where} has no apps.{app}; add\n  apps:\n    {app}: "
                    "{client_id_env: <VAR WITH CLIENT ID>, client_secret_env: <VAR WITH SECRET>}"
                )
        key = (platform, account_id)
        if account_id and key in seen:
            problems.append(
                f"{here}: duplicate of entry {seen[key]}; each platform account may appear once"
            )
        seen.setdefault(key, index)
        if len(problems) == found:
            name = str(entry.get("name") or account_id)
            accounts.append(Account(platform, account_id, name, token_env, refresh_env))
    _raise_all(where, problems)
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


def tiered_refresh_env_var(platform: str) -> str:
    return f"SOCIAL_PIPELINE_{platform.upper()}_TIERED_REFRESH"


def _refresh_tier(env: Mapping[str, str], platform: str) -> RefreshTier | None:
    """`<fresh days>,<older every days>` (e.g. `3,7`), or None when unset."""
    name = tiered_refresh_env_var(platform)
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if platform not in TIERED_PLATFORMS:
        raise SettingsError(
            f"{name} is set, but tiered refresh is for {' and '.join(TIERED_PLATFORMS)} only "
            f"(their posts are read by id in batches); unset it"
        )
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise SettingsError(
            f"{name}={raw!r} is not two whole numbers of days, at least 1 each: "
            "<read daily while younger than>,<then read every>, e.g. 3,7"
        )
    return RefreshTier(fresh_days=int(parts[0]), older_every_days=int(parts[1]))


def start_date(environ: Mapping[str, str] | None = None, today: date | None = None) -> date:
    """The first daily partition: SOCIAL_PIPELINE_START_DATE, else a week before today (UTC),
    or the first day already collected if that is earlier.

    Read alone, so defining partitions loads no accounts file. A fixed default would show a
    fresh install months of "missing" partitions; the first collected day keeps a running
    install's history in view however long ago it started.
    """
    env = os.environ if environ is None else environ
    raw = env.get(START_DATE_ENV, "").strip()
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise SettingsError(f"{START_DATE_ENV}={raw!r} is not a YYYY-MM-DD date") from None
    recent = (today or datetime.now(UTC).date()) - timedelta(days=DEFAULT_START_DAYS_BACK)
    location = env.get(DATA_DIR_ENV, "").strip() or "data"
    # In object storage the first day is not worth a listing per definitions load.
    first = None if is_object_store_url(location) else first_collected_day(Path(location))
    return min(recent, first) if first else recent


def is_object_store_url(location: str) -> bool:
    return location.startswith(OBJECT_STORE_SCHEMES)


def first_collected_day(data_dir: Path) -> date | None:
    """The earliest `date=` folder of the raw landing (data/raw/<platform>/date=D/), if any."""
    days = []
    for folder in data_dir.glob("raw/*/date=*"):
        try:
            days.append(date.fromisoformat(folder.name.removeprefix("date=")))
        except ValueError:
            continue
    return min(days, default=None)


def _data_locations(env: Mapping[str, str]) -> tuple[Path, str, Path | None]:
    """(local folder, object-store URL or "", warehouse file or None) from the environment."""
    location = env.get(DATA_DIR_ENV, "").strip() or "data"
    warehouse = env.get(WAREHOUSE_ENV, "").strip()
    warehouse_file = Path(warehouse).absolute() if warehouse else None
    if not is_object_store_url(location):
        if "://" in location:
            raise SettingsError(
                f"{DATA_DIR_ENV}={location!r}: only local folders and s3://bucket/prefix are supported"
            )
        return Path(location).absolute(), "", warehouse_file
    bucket = location.removeprefix("s3://").split("/", 1)[0]
    if not bucket:
        raise SettingsError(f"{DATA_DIR_ENV}={location!r} names no bucket (s3://bucket/prefix)")
    if warehouse_file is None:
        raise SettingsError(
            f"{DATA_DIR_ENV} is in object storage ({location}): set {WAREHOUSE_ENV} to the "
            "local DuckDB file to build from it, e.g. /var/lib/social-pipeline/warehouse.duckdb"
        )
    return warehouse_file.parent, location.rstrip("/"), warehouse_file


def _credentials_location(env: Mapping[str, str], data_dir: Path, data_url: str) -> Path | str:
    explicit = env.get(CREDENTIALS_DIR_ENV, "").strip()
    if explicit:
        return explicit.rstrip("/") if is_object_store_url(explicit) else Path(explicit).absolute()
    return f"{data_url}/credentials" if data_url else data_dir / "credentials"


def load_settings(
    environ: Mapping[str, str] | None = None,
    token_lookup: Callable[[str], str | None] | None = None,
) -> Settings:
    """Settings from the environment (DESIGN.md, "Environment")."""
    env = os.environ if environ is None else environ
    data_dir, data_url, warehouse_file = _data_locations(env)
    overridden = frozenset(p for p in PLATFORMS if env.get(base_url_env_var(p), "").strip())
    base_urls = {
        p: env.get(base_url_env_var(p), "").strip().rstrip("/") or DEFAULT_BASE_URLS[p]
        for p in PLATFORMS
    }
    sandbox_n = _int_env(env, SANDBOX_ACCOUNTS_ENV, 2)
    common = dict(
        data_dir=data_dir,
        data_url=data_url,
        warehouse_file=warehouse_file,
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
        webhook_url=env.get(WEBHOOK_URL_ENV, "").strip(),
        refresh_tiers={p: tier for p in PLATFORMS if (tier := _refresh_tier(env, p)) is not None},
        token_lookup=token_lookup,
        credentials_dir=_credentials_location(env, data_dir, data_url),
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
