"""Resources: the settings (shown in the UI) and the API hosts the raw assets call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
from pydantic import Field, PrivateAttr

from social_pipeline.core.settings import ACCOUNTS_ENV, DATA_DIR_ENV, Settings
from social_pipeline.environment import api_base_urls, load_environment


class SettingsResource(dg.ConfigurableResource):
    """The accounts file and data folder (DESIGN.md, "Environment"), read once per step.

    Tokens are never config: each account names the environment variable holding its
    token, and the value is read through `EnvVar` at the moment a client needs it, so it
    is never stored in run config, the event log or the UI.
    """

    data_dir: str = Field(
        default="",
        description="Root of raw/ and lake/: a folder (empty: ./data) or s3://bucket/prefix.",
    )
    accounts_file: str = Field(
        default="", description="The accounts file (empty: the built-in sandbox, no credentials)."
    )
    _settings: Settings | None = PrivateAttr(default=None)

    def load(self) -> Settings:
        if self._settings is None:
            # Empty fields fall back to the process environment at run time.
            env = {**os.environ}
            env.update(
                {
                    k: v
                    for k, v in ((DATA_DIR_ENV, self.data_dir), (ACCOUNTS_ENV, self.accounts_file))
                    if v
                }
            )
            self._settings = load_environment(
                env, token_lookup=lambda name: dg.EnvVar(name).get_value()
            )
        return self._settings


class ApiHostsResource(dg.ConfigurableResource):
    """Where each platform's API is reached: the real hosts, `SOCIAL_PIPELINE_<P>_BASE_URL`,
    or, in sandbox mode, an emulator this step starts on loopback."""

    @contextmanager
    def base_urls(self, settings: Settings, day: date | None = None) -> Iterator[dict[str, str]]:
        with api_base_urls(settings, day) as urls:
            yield urls


def _from_env(name: str) -> str | dg.EnvVar:
    # EnvVar shows the variable's name in the UI; an unset one would fail at launch.
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else ""


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "settings": SettingsResource(
                data_dir=_from_env(DATA_DIR_ENV),
                accounts_file=_from_env(ACCOUNTS_ENV),
            ),
            "apis": ApiHostsResource(),
        }
    )
