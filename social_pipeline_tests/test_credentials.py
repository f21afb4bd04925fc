"""Credentials that keep working, through the raw assets and the CLI, against the emulator.

Every account on a refreshable platform (TikTok, YouTube, X, LinkedIn) starts with an
access token that has already expired and a refresh token; Meta accounts start with a
long-lived user token and the facebook app's credentials.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import requests
import yaml

from social_pipeline.app.cli import main as cli
from social_pipeline.core.platforms import APP_OF, PLATFORMS, REFRESHABLE, ROTATING
from social_pipeline.environment import load_environment
from social_pipeline.storage import raw
from social_pipeline.storage.credentials import CredentialStore, lineage_of
from social_pipeline_tests.helpers import (
    Deployment,
    dagster_materialize,
    files_containing,
    token_env,
)

# The variables naming each OAuth app's client id and secret (Instagram uses facebook's).
APPS = {
    app: (f"TEST_{app.upper()}_CLIENT_ID", f"TEST_{app.upper()}_CLIENT_SECRET")
    for app in sorted(set(APP_OF.values()))
}


@dataclass
class OAuthDeployment:
    d: Deployment
    monkeypatch: pytest.MonkeyPatch
    secrets: list[str] = field(default_factory=list)

    @property
    def sandbox(self):  # noqa: ANN201
        return self.d.sandbox

    def refreshes(self, platform: str) -> dict[str, int]:
        return {
            a.account_id: self.sandbox.oauth.refreshes[(platform, a.account_id)]
            for a in self.sandbox.world.accounts(platform)
        }

    def new_refresh_token(self, platform: str, account_id: str) -> str:
        """The owner authorizes again: a new lineage, in the environment."""
        issued = self.sandbox.issue_tokens(platform, account_id, access_ttl=0)
        self.secrets += [issued.access_token, issued.refresh_token]
        self.monkeypatch.setenv(refresh_env(platform, account_id), issued.refresh_token)
        return issued.refresh_token

    def run(self, *platforms: str) -> dg.ExecuteInProcessResult:
        day = self.day()
        selection = dg.AssetSelection.assets(*[f"raw_{p}" for p in platforms or PLATFORMS])
        return self.d.materialize(day, selection=selection)

    def jobs(self, result: dg.ExecuteInProcessResult, platform: str) -> dict[str, str]:
        [mat] = [
            e.materialization
            for e in result.get_asset_materialization_events()
            if e.materialization.asset_key.to_user_string() == f"raw_{platform}"
        ]
        return {
            "ok": mat.metadata["accounts_ok"].value,
            "failed": mat.metadata["accounts_failed"].value,
        }

    def env(self, name: str) -> str:
        return os.environ[name]

    def day(self) -> date:
        return self.d.clock.now.date() - timedelta(days=1)

    def store(self) -> CredentialStore:
        return CredentialStore(self.d.data_dir / "credentials")


def refresh_env(platform: str, account_id: str) -> str:
    return token_env(platform, account_id).replace("_TOKEN", "_REFRESH")


@pytest.fixture
def oauth(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthDeployment]:
    d = deployment
    o = OAuthDeployment(d, monkeypatch)
    for app, (id_env, secret_env) in APPS.items():
        client_id, secret = f"{app}-client-id", f"{app}-client-s3cret-{id(o)}"
        d.sandbox.register_app(app, client_id, secret)
        monkeypatch.setenv(id_env, client_id)
        monkeypatch.setenv(secret_env, secret)
        o.secrets.append(secret)
    entries = []
    for platform in PLATFORMS:
        for account in d.sandbox.world.accounts(platform):
            entry = {
                "platform": platform,
                "account_id": account.account_id,
                "name": account.name,
                "token_env": token_env(platform, account.account_id),
            }
            issued = d.sandbox.issue_tokens(
                platform, account.account_id, access_ttl=0 if platform in REFRESHABLE else None
            )
            monkeypatch.setenv(entry["token_env"], issued.access_token)
            o.secrets.append(issued.access_token)
            if platform in REFRESHABLE:
                entry["refresh_token_env"] = refresh_env(platform, account.account_id)
                monkeypatch.setenv(entry["refresh_token_env"], issued.refresh_token)
                o.secrets.append(issued.refresh_token)
            entries.append(entry)
    apps = {app: {"client_id_env": i, "client_secret_env": s} for app, (i, s) in APPS.items()}
    accounts = d.data_dir.parent / "accounts.yaml"
    accounts.write_text(yaml.safe_dump({"apps": apps, "accounts": entries}))
    yield o


def issued_secrets(o: OAuthDeployment) -> list[str]:
    """Every secret in play, including the access and refresh tokens refreshes minted."""
    minted = [c.access_token for c in o.store().all() if c.access_token]
    minted += [c.refresh_token for c in o.store().all() if c.refresh_token]
    return [s for s in {*o.secrets, *minted} if s]


def test_an_expired_access_token_and_a_refresh_token_give_a_full_collection(
    oauth: OAuthDeployment,
) -> None:
    result = oauth.run(*REFRESHABLE)
    assert result.success
    for platform in REFRESHABLE:
        assert oauth.jobs(result, platform) == {"ok": 2, "failed": 0}, platform
        assert set(oauth.refreshes(platform).values()) == {1}, platform


def test_a_second_run_reuses_the_stored_token_without_refreshing(oauth: OAuthDeployment) -> None:
    assert oauth.run(*REFRESHABLE).success
    again = oauth.run(*REFRESHABLE)
    for platform in REFRESHABLE:
        assert oauth.jobs(again, platform) == {"ok": 2, "failed": 0}
        assert set(oauth.refreshes(platform).values()) == {1}, platform


@pytest.mark.parametrize("platform", ROTATING)
def test_a_rotated_refresh_token_is_persisted_and_used_by_the_next_run(
    oauth: OAuthDeployment, platform: str
) -> None:
    assert oauth.run(platform).success
    account = oauth.sandbox.world.accounts(platform)[0].account_id
    stored = oauth.store().load(platform, account)
    env = load_environment()
    [acct] = [a for a in env.accounts if a.account_id == account]
    assert stored.refresh_token != env.secret(acct.refresh_token_env)  # rotated
    assert stored.lineage == lineage_of(env.secret(acct.refresh_token_env))
    oauth.d.clock.now += timedelta(hours=3)  # the refreshed access token has expired too
    second = oauth.run(platform)
    assert oauth.jobs(second, platform) == {"ok": 2, "failed": 0}
    assert set(oauth.refreshes(platform).values()) == {2}
    assert oauth.sandbox.oauth.superseded_presented == []


def test_two_concurrent_materializations_never_present_a_superseded_refresh_token(
    oauth: OAuthDeployment, tmp_path: Path
) -> None:
    """Two runs of the same day in two processes (an hourly and a retry run, say)."""
    command = dagster_materialize("raw_tiktok,raw_x", oauth.day())
    for n in range(2):
        (tmp_path / f"home{n}").mkdir()
    runs = [
        subprocess.Popen(
            command,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path / f"home{n}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert oauth.sandbox.oauth.superseded_presented == []
    for platform in ("tiktok", "x"):
        assert set(oauth.refreshes(platform).values()) == {1}  # one refresh per account
        jobs = raw.read_jobs(oauth.d.data_dir, platform, oauth.day())
        assert len(jobs) == 4 and {j["status"] for j in jobs} == {"success"}
    assert not [s for s in issued_secrets(oauth) if s in "".join(outputs)]


def test_a_revoked_refresh_token_fails_that_account_alone_and_says_how_to_reauthorize(
    oauth: OAuthDeployment,
) -> None:
    victim = oauth.sandbox.world.accounts("tiktok")[1].account_id
    oauth.sandbox.revoke(oauth.env(refresh_env("tiktok", victim)))
    result = oauth.run("tiktok", "x")
    assert oauth.jobs(result, "tiktok") == {"ok": 1, "failed": 1}
    assert oauth.jobs(result, "x") == {"ok": 2, "failed": 0}
    [job] = [
        j
        for j in raw.read_jobs(oauth.d.data_dir, "tiktok", oauth.day())
        if j["account_id"] == victim
    ]
    assert job["status"] == "failed" and job["error_class"] == "auth"
    assert f"social-pipeline auth login tiktok --account={victim}" in job["error"]


def test_a_new_refresh_token_in_the_environment_takes_over(oauth: OAuthDeployment) -> None:
    assert oauth.run("x").success
    account = oauth.sandbox.world.accounts("x")[0].account_id
    before = oauth.store().load("x", account)
    new = oauth.new_refresh_token("x", account)
    oauth.sandbox.revoke(before.refresh_token)  # the old lineage is gone on the platform too
    oauth.d.clock.now += timedelta(hours=3)
    result = oauth.run("x")
    assert oauth.jobs(result, "x") == {"ok": 2, "failed": 0}
    after = oauth.store().load("x", account)
    assert after.lineage == lineage_of(new) != before.lineage
    assert oauth.sandbox.oauth.superseded_presented == []


def test_the_credential_store_is_private(oauth: OAuthDeployment) -> None:
    assert oauth.run("tiktok").success
    folder = oauth.d.data_dir / "credentials"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in folder.rglob("*") if p.is_dir())


def test_no_secret_reaches_data_logs_or_dagsters_event_log(
    oauth: OAuthDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    victim = oauth.sandbox.world.accounts("linkedin")[0].account_id
    oauth.sandbox.revoke(oauth.env(refresh_env("linkedin", victim)))
    result = oauth.d.materialize(oauth.day())
    assert result.success
    secrets = issued_secrets(oauth)
    assert len(secrets) > 20
    outside_store = [
        p for p in files_containing(oauth.d.data_dir, secrets) if "/credentials/" not in p
    ]
    assert outside_store == []
    assert files_containing(Path(oauth.d.instance.root_directory), secrets) == []
    events = " ".join(str(e) for e in result.all_events)
    assert not [s for s in secrets if s in events]
    assert not [s for s in secrets if s in caplog.text]


def test_meta_user_tokens_are_checked_and_extended_before_they_expire(
    oauth: OAuthDeployment,
) -> None:
    account = oauth.sandbox.world.accounts("facebook")[0].account_id
    soon = oauth.sandbox.issue_tokens("facebook", account, access_ttl=5 * 86400)
    oauth.monkeypatch.setenv(token_env("facebook", account), soon.access_token)
    page = oauth.sandbox.world.accounts("instagram")[0].account_id
    never = oauth.sandbox.issue_tokens("instagram", page, kind="page")
    oauth.monkeypatch.setenv(token_env("instagram", page), never.access_token)
    result = oauth.run("facebook", "instagram")
    assert oauth.jobs(result, "facebook") == {"ok": 2, "failed": 0}
    stored = oauth.store().load("facebook", account)
    assert stored.kind == "meta_user" and stored.access_token != soon.access_token
    assert stored.access_expires_at - datetime.now(UTC) > timedelta(days=50)
    assert oauth.sandbox.oauth.refreshes[("facebook", account)] == 1
    assert oauth.store().load("instagram", page).kind == "meta_page"
    assert oauth.sandbox.oauth.refreshes[("instagram", page)] == 0


def test_auth_status_names_each_credential_and_warns_before_a_refresh_token_ends(
    oauth: OAuthDeployment, capsys: pytest.CaptureFixture[str]
) -> None:
    account = oauth.sandbox.world.accounts("linkedin")[0].account_id
    short = oauth.sandbox.issue_tokens("linkedin", account, access_ttl=0, refresh_ttl=10 * 86400)
    oauth.monkeypatch.setenv(refresh_env("linkedin", account), short.refresh_token)
    result = oauth.run("linkedin")
    [check] = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "credentials_current"
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert cli(["auth", "status", "--format", "json"]) == 0
    rows = {r["account_id"]: r for r in yaml.safe_load(capsys.readouterr().out)}
    assert (
        rows[account]["status"] == "expiring"
        and "auth login linkedin" in rows[account]["next step"]
    )
    assert rows[account]["kind"] == "oauth"
    tiktok = oauth.sandbox.world.accounts("tiktok")[0].account_id
    assert rows[tiktok]["status"] == "unknown"  # not collected yet: nothing recorded


def test_auth_login_runs_the_browser_flow_and_stores_the_tokens(
    oauth: OAuthDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = oauth.sandbox.world.accounts("x")[1].account_id
    oauth.sandbox.consent("x", account)
    visited: list[str] = []

    def browser(url: str) -> bool:  # the user clicks Allow: follow the redirect home
        visited.append(url)
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}).start()
        return True

    monkeypatch.setattr("webbrowser.open", browser)
    assert cli(["auth", "login", "x", f"--account={account}"]) == 0
    assert "code_challenge=" in visited[0]  # X's PKCE
    stored = oauth.store().load("x", account)
    assert stored.refresh_token and stored.kind == "oauth"
    assert oauth.sandbox.oauth.refreshes[("x", account)] == 0


def test_a_token_that_expires_between_two_pages_is_refreshed_and_the_account_collected(
    oauth: OAuthDeployment,
) -> None:
    """The emulator's clock jumps 3 hours once the first listing page has been served."""
    sb = oauth.sandbox
    for account in sb.world.accounts("tiktok"):
        issued = sb.issue_tokens("tiktok", account.account_id)  # valid for 2 h
        oauth.monkeypatch.setenv(token_env("tiktok", account.account_id), issued.access_token)
    start = oauth.d.clock.now

    def clock() -> datetime:
        listed = any(r.platform == "tiktok" and "/video/list" in r.path for r in list(sb.log))
        return start + timedelta(hours=3) if listed else start

    sb.world.clock = clock
    result = oauth.run("tiktok")
    assert oauth.jobs(result, "tiktok") == {"ok": 2, "failed": 0}
    assert sum(oauth.refreshes("tiktok").values()) >= 1
    expired_answers = [r for r in sb.requests_for("tiktok", "/video/list") if r.status == 401]
    assert expired_answers, "the listing saw the expired token"
    jobs = raw.read_jobs(oauth.d.data_dir, "tiktok", oauth.day())
    assert all(j["posts_collected"] > 20 for j in jobs)  # more than one page, after the refresh
