"""The CLI a new user can trust: honest exit codes, masked secrets, whole-file checks,
tables that fit, and a UI that says "ready" only when it is."""

from __future__ import annotations

import sys
from datetime import date
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from rich.cells import cell_len

from social_pipeline.app import ui
from social_pipeline.app.cli import main as cli
from social_pipeline_tests.helpers import Deployment

DAY = date(2026, 11, 19)
# Token-looking values a user might paste where a variable NAME belongs.
PASTED = {
    "token_env": "EAABsbCS1iHgBAKZCq4ZD9xP7mZBzQ8wLrT3vK2ZD",
    "refresh_token_env": "rt.Xy8Zq3-hL9mN2pQ7vW4kJ6bF1aS5dG0",
    "client_id_env": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "client_secret_env": "sk live 9f8e7d6c5b4a3921",
}


def accounts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, doc: object) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    monkeypatch.setenv("SOCIAL_PIPELINE_ACCOUNTS", str(path))
    return path


def x_accounts(deployment: Deployment) -> list[str]:
    return [a.account_id for a in deployment.sandbox.world.accounts("x")]


# -- collect: honest status ----------------------------------------------------------


def test_collect_exits_3_and_lists_the_failed_account_when_some_accounts_fail(
    deployment: Deployment, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.clock.morning_after(DAY)
    bad, good = x_accounts(deployment)
    deployment.sandbox.revoke(deployment.tokens[("x", bad)])
    assert cli(["collect", "--date", DAY.isoformat(), "--platform", "x"]) == 3
    captured = capsys.readouterr()
    out = captured.out
    failed = out[out.index("Failed accounts") :]
    assert "Accounts: 1 of 2 collected, 1 failed" in out
    assert f"x          {bad}  auth:" in failed and good not in failed
    assert all(t not in captured.out + captured.err for t in deployment.tokens.values())


def test_collect_exits_1_when_no_account_was_collected(
    deployment: Deployment, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.clock.morning_after(DAY)
    for account_id in x_accounts(deployment):
        deployment.sandbox.revoke(deployment.tokens[("x", account_id)])
    assert cli(["collect", "--date", DAY.isoformat(), "--platform", "x"]) == 1
    out = capsys.readouterr().out
    assert "Accounts: 0 of 2 collected, 2 failed" in out
    assert all(a in out[out.index("Failed accounts") :] for a in x_accounts(deployment))


def test_collect_documents_its_exit_codes_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(["collect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "3 partial: some accounts failed" in text and "1 the run failed" in text


@pytest.mark.parametrize("day", ["2025-12-31", "2099-01-01"])
def test_a_date_outside_the_partitions_is_one_line_naming_the_range(
    day: str,
    tmp_path: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOCIAL_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SOCIAL_PIPELINE_START_DATE", "2026-01-01")
    assert cli(["collect", "--date", day]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "2026-01-01 (SOCIAL_PIPELINE_START_DATE) to " in err and "(today, UTC)" in err
    assert not (tmp_path / "data").exists()  # nothing ran


# -- secrets are never echoed --------------------------------------------------------


@pytest.mark.parametrize("key", list(PASTED))
def test_a_token_pasted_where_a_variable_name_belongs_is_never_echoed(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = PASTED[key]
    entry = {"platform": "tiktok", "account_id": "-000abc", "token_env": "T"}
    doc: dict = {"accounts": [entry]}
    if key.startswith("client"):
        doc["apps"] = {"tiktok": {"client_id_env": "CID", "client_secret_env": "CS", key: secret}}
    else:
        doc["apps"] = {"tiktok": {"client_id_env": "CID", "client_secret_env": "CS"}}
        entry[key] = secret
    accounts_file(tmp_path, monkeypatch, doc)
    for command in (["check"], ["posts"], ["collect", "--date", DAY.isoformat()]):
        assert cli(command) == 2
        captured = capsys.readouterr()
        shown = captured.out + captured.err
        assert secret not in shown and secret[8:20] not in shown
        assert f"{key} " in shown and "is not an environment variable name" in shown


def test_a_pasted_token_in_malformed_yaml_is_not_quoted_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = PASTED["token_env"]
    accounts_file(tmp_path, monkeypatch, f"accounts:\n  - token_env: {secret}\n   bad: [\n")
    assert cli(["check"]) == 2
    err = capsys.readouterr().err
    assert "malformed YAML at line" in err and secret not in err


# -- check: every mistake at once ----------------------------------------------------


def test_check_reports_every_mistake_at_once_with_did_you_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = accounts_file(
        tmp_path,
        monkeypatch,
        {
            "accounts": [
                {"platform": "x", "account_id": "1", "tokn_env": "X_TOKEN"},
                {"platform": "youtub", "account_id": "UC1", "token_env": "YT"},
                {"platform": "x", "account_id": "2", "token_env": "A"},
                {"platform": "x", "account_id": "2", "token_env": "B"},
            ],
            "aps": {},
        },
    )
    assert cli(["check"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: 5 problems:" in err
    assert f"{path}: unknown key 'aps'; did you mean 'apps'?" in err
    assert "accounts entry 1 (x 1): unknown key 'tokn_env'; did you mean 'token_env'?" in err
    assert "accounts entry 1 (x 1): token_env is missing" in err
    assert "accounts entry 2: unknown platform 'youtub'; did you mean 'youtube'?" in err
    assert "accounts entry 4 (x 2): duplicate of entry 3" in err


def test_check_warns_on_an_empty_account_list_but_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts_file(tmp_path, monkeypatch, "accounts:\n")
    assert cli(["check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 accounts from") and "warning:" in out and "lists no accounts" in out


def configure_meta_app(
    deployment: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    secret: str,
    typed_secret: str,
    more_apps: dict[str, dict[str, str]] | None = None,
    only_platform: str | None = None,
) -> None:
    """The deployment's accounts file gains a Meta app read from META_ID and META_SECRET
    (and `more_apps`; its accounts cut to `only_platform`). The emulator knows the app by
    `secret`; the user's META_SECRET holds `typed_secret`."""
    path = tmp_path / "accounts.yaml"
    doc = yaml.safe_load(path.read_text())
    if only_platform:
        doc["accounts"] = [a for a in doc["accounts"] if a["platform"] == only_platform]
    meta = {"client_id_env": "META_ID", "client_secret_env": "META_SECRET"}
    doc["apps"] = {"facebook": meta, **(more_apps or {})}
    path.write_text(yaml.safe_dump(doc))
    deployment.sandbox.register_app("facebook", "meta-app", secret)
    monkeypatch.setenv("META_ID", "meta-app")
    monkeypatch.setenv("META_SECRET", typed_secret)


def test_check_live_reads_each_profile_once_and_tries_the_apps(
    deployment: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    bad, good = x_accounts(deployment)
    deployment.sandbox.revoke(deployment.tokens[("x", bad)])
    configure_meta_app(
        deployment,
        tmp_path,
        monkeypatch,
        secret="meta-app-secret-value",
        typed_secret="meta-app-secret-value",
        more_apps={"tiktok": {"client_id_env": "TT_ID", "client_secret_env": "TT_SECRET"}},
    )
    monkeypatch.setenv("TT_ID", "tt")
    monkeypatch.setenv("TT_SECRET", "tt-secret-value")

    assert cli(["check", "--live"]) == 1
    out = capsys.readouterr().out
    rows = {
        tuple(line.split()[:3]): line
        for line in out.splitlines()
        if line.startswith(("account", "app"))
    }
    assert "ok" in rows[("account", "x", good)] and "profile read" in rows[("account", "x", good)]
    assert "failed" in rows[("account", "x", bad)] and "auth" in rows[("account", "x", bad)]
    for platform, account_id in deployment.tokens:
        if (platform, account_id) != ("x", bad):
            assert " ok " in rows[("account", platform, account_id)]
    assert " ok " in rows[("app", "facebook", "apps.facebook")]
    assert "not checked" in rows[("app", "tiktok", "apps.tiktok")]
    assert f"{len(deployment.tokens)} ok, 1 failed" in out
    secrets = [*deployment.tokens.values(), "meta-app-secret-value", "tt-secret-value"]
    assert not any(s in out for s in secrets)


def test_check_live_says_when_an_app_secret_is_wrong(
    deployment: Deployment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    configure_meta_app(
        deployment,
        tmp_path,
        monkeypatch,
        secret="the-right-secret",
        typed_secret="a-wrong-secret-123",
        only_platform="x",
    )
    assert cli(["check", "--live"]) == 1
    out = capsys.readouterr().out
    [app] = [line for line in out.splitlines() if line.startswith("app")]
    assert "failed" in app and "a-wrong-secret-123" not in out


# -- tables ---------------------------------------------------------------------------


@pytest.fixture
def collected(deployment: Deployment, home: Path, capsys: pytest.CaptureFixture[str]) -> Deployment:
    deployment.clock.morning_after(DAY)
    assert (
        cli(["collect", "--date", DAY.isoformat(), "--platform", "tiktok", "--platform", "x"]) == 0
    )
    capsys.readouterr()
    return deployment


def test_tables_fit_the_terminal_and_say_how_many_rows_they_show(
    collected: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for width in (80, 160):
        monkeypatch.setenv("COLUMNS", str(width))
        assert cli(["posts", "--limit", "5"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert all(cell_len(line.rstrip()) <= width for line in lines)
        assert lines[0].split()[:2] == ["platform", "account_id"]
        assert lines[7].startswith("showing 5 of 224 rows")  # header, rule, 5 rows
    assert cli(["posts", "--limit", "0", "--platform", "x"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("showing 112 of 112 rows")


def test_account_ids_starting_with_a_dash_work_in_both_spellings(
    collected: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    tiktok = collected.sandbox.world.accounts("tiktok")[0].account_id
    assert tiktok.startswith("-")
    for args in (["--account=" + tiktok], ["--account", tiktok]):
        assert cli(["followers", *args, "--format", "csv"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 2 and f",{tiktok}," in lines[1]


def test_an_unknown_account_is_an_error_listing_the_known_ones(
    collected: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("posts", "followers", "jobs"):
        assert cli([command, "--account", "nope"]) == 2
        err = capsys.readouterr().err
        assert "no account 'nope'" in err
        assert all(a in err for a in x_accounts(collected))


def test_platform_and_account_intersect_in_the_tables(
    collected: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    x_id = x_accounts(collected)[0]
    assert cli(["posts", "--platform", "tiktok", "--account", x_id]) == 2
    err = capsys.readouterr().err
    assert f"no account '{x_id}' on tiktok" in err and x_id not in err.split("known", 1)[1]
    assert cli(["posts", "--platform", "x", "--account", x_id, "--format", "json"]) == 0
    assert '"platform":"tiktok"' not in capsys.readouterr().out


def test_since_keeps_rows_on_or_after_the_day(
    collected: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["posts", "--since", "2026-11-10", "--format", "csv", "--limit", "0"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    days = {row.split(",")[3][:10] for row in rows}
    assert rows and min(days) >= "2026-11-10"
    for command in ("followers", "jobs"):
        assert cli([command, "--since", "2026-11-19", "--format", "csv"]) == 0
        assert len(capsys.readouterr().out.strip().splitlines()) == 5  # header + 4 accounts
        assert cli([command, "--since", "2099-01-01", "--format", "csv"]) == 0
        assert len(capsys.readouterr().out.strip().splitlines()) <= 1


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"social-pipeline {version('social-pipeline')}"


# -- ui ---------------------------------------------------------------------------------


def test_ui_runs_the_dagster_next_to_its_own_interpreter() -> None:
    command = ui.ui_command(3999)
    assert command[0] == str(Path(sys.executable).parent / "dagster")
    assert Path(command[0]).exists()


FAKE_UI = """
import sys, time, http.server, threading
time.sleep(float(sys.argv[2]))
if sys.argv[3] == "crash":
    print("fake dagster: cannot load definitions", file=sys.stderr)
    raise SystemExit(7)
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
threading.Timer(1.5, server.shutdown).start()
server.serve_forever()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("outcome", ["crash", "serve"])
def test_ui_says_ready_only_once_the_webserver_answers(
    outcome: str,
    tmp_path: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    script = tmp_path / "fake_dagster.py"
    script.write_text(FAKE_UI)
    (tmp_path / "server_info").write_text("{}")
    monkeypatch.chdir(tmp_path)  # SimpleHTTPRequestHandler serves ./server_info
    monkeypatch.setattr(
        ui, "ui_command", lambda p: [sys.executable, str(script), str(p), "0.5", outcome]
    )
    code = cli(["ui", "--port", str(port)])
    captured = capsys.readouterr()
    if outcome == "crash":
        assert code == 1 and "UI ready" not in captured.out
        assert "stopped (exit code 7) before the UI answered" in captured.err
    else:
        assert code == 0 and f"Dagster UI ready on http://127.0.0.1:{port}" in captured.out
