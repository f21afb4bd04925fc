"""The accounts file and environment: validated once, errors that say where and how to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from social_pipeline.core.settings import (
    SANDBOX_DEFAULT_TOKEN,
    SettingsError,
    check_tokens,
    load_accounts,
    load_settings,
)
from social_pipeline.environment import load_environment


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    return path


GOOD = """
accounts:
  - platform: x
    account_id: "2244994945"
    name: Example Dev
    token_env: EXAMPLE_X_TOKEN
  - platform: youtube
    account_id: UCabc
    name: Channel
    token_env: EXAMPLE_YT_KEY
"""


def test_a_valid_accounts_file_loads_every_entry(tmp_path: Path) -> None:
    accounts = load_accounts(write(tmp_path, GOOD))
    assert [(a.platform, a.account_id, a.token_env) for a in accounts] == [
        ("x", "2244994945", "EXAMPLE_X_TOKEN"),
        ("youtube", "UCabc", "EXAMPLE_YT_KEY"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "accounts:\n  - platform: myspace\n    account_id: '1'\n    token_env: T\n",
            "unknown platform 'myspace'",
        ),
        (
            "accounts:\n  - platform: x\n    account_id: '1'\n    token_env: ''\n",
            "token_env is missing or empty",
        ),
        ("accounts:\n  - platform: x\n    account_id: '1'\n", "token_env is missing or empty"),
        (
            "accounts:\n  - platform: x\n    account_id: '1'\n    token_env: 'AAAA-real token'\n",
            "not an environment variable name",
        ),
        ("accounts:\n  - platform: x\n    token_env: T\n", "account_id is missing"),
        (
            "accounts:\n  - {platform: x, account_id: '1', token_env: T}\n  - {platform: x, account_id: '1', token_env: U}\n",
            "duplicate of entry 1",
        ),
        ("accounts: [\n  - platform: x\n", "malformed YAML at line"),
        ("people: []\n", "top-level 'accounts:' list"),
    ],
)
def test_a_bad_accounts_file_names_the_file_the_entry_and_the_fix(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_accounts(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_entries_are_numbered_in_errors(tmp_path: Path) -> None:
    text = GOOD + "  - platform: tiktok\n    account_id: abc\n    token_env: ''\n"
    with pytest.raises(SettingsError, match=r"accounts entry 3 \(tiktok abc\)"):
        load_accounts(write(tmp_path, text))


def test_a_missing_token_variable_names_the_account_and_the_variable(tmp_path: Path) -> None:
    env = {"SOCIAL_PIPELINE_ACCOUNTS": str(write(tmp_path, GOOD)), "EXAMPLE_X_TOKEN": "t0ken"}
    settings = load_settings(env)
    problems = check_tokens(settings, env)
    assert len(problems) == 1
    assert "youtube account UCabc" in problems[0] and "EXAMPLE_YT_KEY" in problems[0]
    assert settings.token_for(settings.accounts[0], env) == "t0ken"


def test_without_an_accounts_file_the_sandbox_has_accounts_on_every_platform() -> None:
    assert load_settings({}).accounts == ()  # settings alone never reach into the sandbox
    settings = load_environment({})
    assert settings.is_sandbox
    platforms = {a.platform for a in settings.accounts}
    assert platforms == {"facebook", "instagram", "x", "linkedin", "youtube", "tiktok"}
    assert len(settings.accounts) == 12
    first = settings.accounts[0]
    assert settings.token_for(first, {}) == f"{SANDBOX_DEFAULT_TOKEN}.{first.account_id}"


def test_environment_overrides_data_dir_base_urls_and_window(tmp_path: Path) -> None:
    settings = load_environment(
        {
            "SOCIAL_PIPELINE_DATA_DIR": str(tmp_path / "d"),
            "SOCIAL_PIPELINE_X_BASE_URL": "http://127.0.0.1:9/x/",
            "SOCIAL_PIPELINE_WINDOW_DAYS": "7",
            "SOCIAL_PIPELINE_SANDBOX_ACCOUNTS": "5",
        }
    )
    assert settings.data_dir == tmp_path / "d"
    assert settings.base_urls["x"] == "http://127.0.0.1:9/x"
    assert settings.base_urls["youtube"] == "https://www.googleapis.com"
    assert settings.overridden_base_urls == {"x"}
    assert settings.window_days == 7
    assert len(settings.accounts) == 30


@pytest.mark.parametrize("value", ["seven", "0", "-3"])
def test_a_bad_number_in_the_environment_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="SOCIAL_PIPELINE_WINDOW_DAYS"):
        load_settings({"SOCIAL_PIPELINE_WINDOW_DAYS": value})


def test_api_versions_are_settings_for_platforms_that_retire_them() -> None:
    settings = load_settings(
        {
            "SOCIAL_PIPELINE_LINKEDIN_API_VERSION": "202601",
            "SOCIAL_PIPELINE_FACEBOOK_API_VERSION": "v25.0",
        }
    )
    assert settings.api_versions == {"linkedin": "202601", "facebook": "v25.0"}


def test_operations_knobs_are_validated_settings() -> None:
    settings = load_settings(
        {
            "SOCIAL_PIPELINE_MAX_ATTEMPTS": "2",
            "SOCIAL_PIPELINE_RETRY_BACKOFF_SECONDS": "0",
            "SOCIAL_PIPELINE_NEW_ACCOUNT_BACKFILL_DAYS": "3",
            "SOCIAL_PIPELINE_POOL_LIMIT_X": "3",
        }
    )
    assert (
        settings.max_attempts,
        settings.retry_backoff_seconds,
        settings.new_account_backfill_days,
    ) == (2, 0, 3)
    assert settings.pool_limits == {"api_x": 3}
    with pytest.raises(SettingsError, match="SOCIAL_PIPELINE_MAX_ATTEMPTS"):
        load_settings({"SOCIAL_PIPELINE_MAX_ATTEMPTS": "many"})


APPS_AND_REFRESH = """
apps:
  tiktok: {client_id_env: TIKTOK_CLIENT_KEY, client_secret_env: TIKTOK_CLIENT_SECRET}
  x: {client_id_env: X_CLIENT_ID}
  facebook: {client_id_env: META_APP_ID, client_secret_env: META_APP_SECRET}
accounts:
  - platform: tiktok
    account_id: "-000abc"
    name: Acme
    refresh_token_env: ACME_TIKTOK_REFRESH
  - platform: x
    account_id: "42"
    token_env: X_TOKEN
    refresh_token_env: X_REFRESH
"""


def test_apps_and_refresh_tokens_load_and_token_env_becomes_optional(tmp_path: Path) -> None:
    path = write(tmp_path, APPS_AND_REFRESH)
    settings = load_settings({"SOCIAL_PIPELINE_ACCOUNTS": str(path)})
    tiktok, x = settings.accounts
    assert (tiktok.token_env, tiktok.refresh_token_env) == ("", "ACME_TIKTOK_REFRESH")
    assert settings.app_for(tiktok).client_secret_env == "TIKTOK_CLIENT_SECRET"
    assert settings.app_for(x).client_secret_env == ""  # X public clients have no secret
    assert settings.credentials_dir == (Path("data") / "credentials").absolute()


def test_a_refresh_token_without_app_credentials_says_which_are_missing_and_where(
    tmp_path: Path,
) -> None:
    text = APPS_AND_REFRESH.replace(
        "  tiktok: {client_id_env: TIKTOK_CLIENT_KEY, client_secret_env: TIKTOK_CLIENT_SECRET}\n",
        "",
    )
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_accounts(path)
    message = str(caught.value)
    assert str(path) in message and "accounts entry 1 (tiktok -000abc)" in message
    assert "apps.tiktok" in message and "client_id_env" in message


@pytest.mark.parametrize(
    ("apps", "expected"),
    [
        ("  myspace: {client_id_env: A, client_secret_env: B}\n", "unknown app platform"),
        ("  tiktok: {client_secret_env: B}\n", "client_id_env is missing"),
        ("  tiktok: {client_id_env: A}\n", "client_secret_env is missing"),
        ("  tiktok: {client_id_env: A, client_secret_env: 'sk live 123'}\n", "not an environment"),
    ],
)
def test_app_entries_are_validated(tmp_path: Path, apps: str, expected: str) -> None:
    text = "apps:\n" + apps + "accounts:\n  - platform: x\n    account_id: '1'\n    token_env: T\n"
    with pytest.raises(SettingsError, match=expected):
        load_settings({"SOCIAL_PIPELINE_ACCOUNTS": str(write(tmp_path, text))})


def test_meta_accounts_cannot_name_a_refresh_token(tmp_path: Path) -> None:
    text = (
        "accounts:\n  - platform: instagram\n    account_id: '1'\n    token_env: T\n"
        "    refresh_token_env: R\n"
    )
    with pytest.raises(SettingsError, match="instagram has no refresh tokens"):
        load_accounts(write(tmp_path, text))


def test_the_credentials_dir_and_token_urls_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SOCIAL_PIPELINE_CREDENTIALS_DIR": str(tmp_path / "creds"),
            "SOCIAL_PIPELINE_TIKTOK_TOKEN_URL": "http://127.0.0.1:9/tiktok/v2/oauth/token/",
        }
    )
    assert settings.credentials_dir == tmp_path / "creds"
    assert settings.token_urls["tiktok"] == "http://127.0.0.1:9/tiktok/v2/oauth/token/"
    assert settings.token_urls["youtube"] == "https://oauth2.googleapis.com/token"


def test_every_mistake_in_the_accounts_file_is_reported_in_one_error(tmp_path: Path) -> None:
    text = (
        "apps:\n  tiktok: {client_id_env: A, client_secert_env: B}\n"
        "accounts:\n"
        "  - {platform: x, account_id: '1', tokn_env: T}\n"
        "  - {platform: myspace, account_id: '2', token_env: T}\n"
    )
    with pytest.raises(SettingsError) as info:
        load_accounts(write(tmp_path, text))
    message = str(info.value)
    assert "5 problems" in message  # entry 1 also lacks token_env
    assert (
        "apps.tiktok: unknown key 'client_secert_env'; did you mean 'client_secret_env'?" in message
    )
    assert "apps.tiktok: client_secret_env is missing" in message
    assert "accounts entry 1 (x 1): unknown key 'tokn_env'; did you mean 'token_env'?" in message
    assert "accounts entry 2: unknown platform 'myspace'" in message


@pytest.mark.parametrize(
    "secret",
    [
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",  # shaped like a variable name
        "ya29.a0AfH6SMBx-long-google-token",
        "sk live 9f8e",
    ],
)
def test_a_token_in_a_name_field_is_refused_and_masked(tmp_path: Path, secret: str) -> None:
    text = f"accounts:\n  - platform: x\n    account_id: '1'\n    token_env: '{secret}'\n"
    with pytest.raises(SettingsError) as info:
        load_accounts(write(tmp_path, text))
    assert secret not in str(info.value) and "is not an environment variable name" in str(
        info.value
    )
    assert "EXAMPLE_X_TOKEN" in [a.token_env for a in load_accounts(write(tmp_path, GOOD))]


def test_a_data_dir_in_object_storage_needs_a_local_warehouse_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="set SOCIAL_PIPELINE_WAREHOUSE"):
        load_settings({"SOCIAL_PIPELINE_DATA_DIR": "s3://agency-data/social"})
    settings = load_settings(
        {
            "SOCIAL_PIPELINE_DATA_DIR": "s3://agency-data/social/",
            "SOCIAL_PIPELINE_WAREHOUSE": str(tmp_path / "wh" / "agency.duckdb"),
        }
    )
    assert settings.data_root == "s3://agency-data/social"
    assert settings.warehouse == tmp_path / "wh" / "agency.duckdb"
    assert settings.data_dir == tmp_path / "wh"  # the warehouse's files live beside it
    assert settings.credentials_dir == "s3://agency-data/social/credentials"


@pytest.mark.parametrize(
    ("location", "expected"),
    [("s3://", "names no bucket"), ("gs://bucket/p", "only local folders and s3://")],
)
def test_an_unsupported_data_location_is_refused(location: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_settings(
            {"SOCIAL_PIPELINE_DATA_DIR": location, "SOCIAL_PIPELINE_WAREHOUSE": "/w.duckdb"}
        )


def test_a_local_data_dir_keeps_its_warehouse_inside_unless_told_otherwise(tmp_path: Path) -> None:
    settings = load_settings({"SOCIAL_PIPELINE_DATA_DIR": str(tmp_path / "data")})
    assert settings.data_root == str(tmp_path / "data")
    assert settings.warehouse == tmp_path / "data" / "warehouse.duckdb"
    moved = load_settings(
        {
            "SOCIAL_PIPELINE_DATA_DIR": str(tmp_path / "data"),
            "SOCIAL_PIPELINE_WAREHOUSE": str(tmp_path / "fast-disk" / "w.duckdb"),
        }
    )
    assert moved.warehouse == tmp_path / "fast-disk" / "w.duckdb"
    assert moved.data_root == str(tmp_path / "data")
