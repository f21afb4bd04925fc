"""The README is the contract with a new user: it must say what the code does."""

from __future__ import annotations

from pathlib import Path

from social_pipeline.app.field_map import field_map_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_field_map_is_the_one_the_normalizers_declare() -> None:
    assert field_map_markdown() in (ROOT / "README.md").read_text(), (
        "README field map is stale: python -m social_pipeline.app.field_map > paste it"
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci
    assert "social-pipeline collect" in readme
