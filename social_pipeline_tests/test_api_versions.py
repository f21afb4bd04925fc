"""API versions retire: a retired LinkedIn-Version fails loudly, an ageing one warns."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
import requests

from social_pipeline.clients.errors import PermanentError
from social_pipeline.clients.linkedin import DEFAULT_VERSION, LinkedInClient
from social_pipeline.core.api_versions import version_warning
from social_pipeline.sandbox.server import Sandbox
from social_pipeline_tests import helpers
from social_pipeline_tests.defs.test_checks import evaluations
from social_pipeline_tests.helpers import Deployment

DAY = date(2026, 11, 19)
TODAY = date(2026, 11, 29)
ENV = "SOCIAL_PIPELINE_LINKEDIN_API_VERSION"


def raw_linkedin_counts(result: dg.ExecuteInProcessResult) -> tuple[int, int]:
    """(accounts ok, accounts failed) of the raw_linkedin materialization."""
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == "raw_linkedin"
    ]
    meta = event.materialization.metadata
    return int(meta["accounts_ok"].value), int(meta["accounts_failed"].value)


def logged(d: Deployment, result: dg.ExecuteInProcessResult) -> str:
    """Every message the run logged (context.log included)."""
    return "\n".join(entry.user_message for entry in d.instance.all_logs(result.run_id))


def test_a_retired_linkedin_version_fails_each_account_naming_the_setting(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    monkeypatch.setenv(ENV, "202510")

    result = d.materialize(DAY, selection="raw_linkedin")

    accounts = len(d.sandbox.world.accounts("linkedin"))
    assert raw_linkedin_counts(result) == (0, accounts)
    failures = [line for line in logged(d, result).splitlines() if "(HTTP 426): permanent" in line]
    assert len(failures) >= accounts
    for error in failures:
        assert "LinkedIn-Version 202510 is retired or unknown" in error
        assert f"{ENV}=YYYYMM" in error
        assert "Requested version 20251001 is not active" in error
    assert {r.status for r in d.sandbox.requests_for("linkedin")} == {426}
    check = evaluations(result)["raw_linkedin:api_version_supported"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "about 12 months after release" in str(check.metadata["warning"].value)


def test_the_default_linkedin_version_collects(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)

    result = d.materialize(DAY, selection="raw_linkedin")

    assert result.success
    assert raw_linkedin_counts(result) == (len(d.sandbox.world.accounts("linkedin")), 0)
    check = evaluations(result)["raw_linkedin:api_version_supported"]
    assert check.metadata["api_version"].value == DEFAULT_VERSION


def test_an_ageing_linkedin_version_still_collects_but_the_check_warns(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.clock.morning_after(DAY)
    monkeypatch.setenv(ENV, "202512")  # served until about 2026-12, warned from 2026-11

    result = d.materialize(DAY, selection="raw_linkedin")

    assert raw_linkedin_counts(result) == (len(d.sandbox.world.accounts("linkedin")), 0)
    check = evaluations(result)["raw_linkedin:api_version_supported"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "LinkedIn-Version 202512 is 11 months old" in logged(d, result)


def test_platforms_without_a_version_schedule_always_pass(deployment: Deployment) -> None:
    d = deployment
    d.clock.morning_after(DAY)

    checks = evaluations(
        d.materialize(DAY, dg.AssetSelection.assets("raw_x", "raw_youtube", "raw_tiktok"))
    )

    for platform in ("x", "youtube", "tiktok"):
        assert checks[f"raw_{platform}:api_version_supported"].passed


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("202511", 200),  # 12 months before the world clock's month: still served
        ("202611.01", 200),
        ("202510", 426),  # retired 2026-10-15
        ("202612", 426),  # not released yet
        ("202613", 426),
        ("2026-11", 426),
        ("", 426),
    ],
)
def test_the_emulator_serves_only_the_last_twelve_months_of_versions(
    sandbox: Sandbox, version: str, status: int
) -> None:
    made = helpers.make_client(sandbox, "linkedin")
    headers = {
        "Authorization": f"Bearer {made.token}",
        "LinkedIn-Version": version,
        "X-Restli-Protocol-Version": "2.0.0",
    }
    url = f"{sandbox.base_url('linkedin')}/rest/networkSizes/urn:li:organization:{made.account_id}"
    params = {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"}

    answer = requests.get(url, params=params, headers=headers, timeout=10)

    assert answer.status_code == status
    if status == 426:
        body = answer.json()
        assert body["code"] == "NONEXISTENT_VERSION" and body["status"] == 426
        assert body["message"].startswith("Requested version ")
        assert body["message"].endswith(" is not active")


def test_the_426_names_the_version_as_linkedin_does(sandbox: Sandbox) -> None:
    """LinkedIn spells `202409` as `20240901` in its 426 (PipedreamHQ/pipedream#18398)."""
    made = helpers.make_client(sandbox, "linkedin")
    retired = LinkedInClient(made.http, made.account_id, made.token, api_version="202510")
    with pytest.raises(PermanentError) as caught:
        retired.fetch_profile()

    assert "Requested version 20251001 is not active" in str(caught.value)
    assert "LinkedIn-Version 202510" in str(caught.value) and f"{ENV}=YYYYMM" in str(caught.value)


@pytest.mark.parametrize(
    ("version", "warns"),
    [("202610", False), ("202601", False), ("202512", True), ("202510", True), ("2026", True)],
)
def test_linkedin_warns_once_a_version_is_older_than_ten_months(version: str, warns: bool) -> None:
    warning = version_warning("linkedin", version, TODAY)
    assert (warning is not None) == warns
    if warns:
        assert ENV in warning


def test_graph_warns_within_ninety_days_of_end_of_life() -> None:
    assert version_warning("facebook", "v24.0", date(2027, 11, 19)) is None  # 91 days out
    soon = version_warning("instagram", "v24.0", date(2027, 11, 20))
    assert soon is not None and "2028-02-18" in soon and "SOCIAL_PIPELINE_INSTAGRAM" in soon
    assert "reached" in (version_warning("facebook", "v24.0", date(2028, 3, 1)) or "")
    assert version_warning("facebook", "v25.0", date(2030, 1, 1)) is None  # unknown: no warning


def test_the_default_linkedin_version_does_not_warn_today() -> None:
    assert version_warning("linkedin", DEFAULT_VERSION, TODAY) is None
    assert version_warning("x", "2", TODAY) is None
