"""The resource assets use to reach settings, tokens and API hosts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from social_pipeline.sandbox.runtime import api_base_urls
from social_pipeline.settings import Settings, load_settings


class PipelineResource(dg.ConfigurableResource):
    """Settings from the environment (DESIGN.md, "Environment").

    Tokens are never config: each account names the environment variable holding its
    token, and the value is read through `EnvVar` at the moment a client needs it, so it
    is never stored in run config, the event log or the UI.
    """

    data_dir: str = ""  # empty: SOCIAL_PIPELINE_DATA_DIR, else ./data

    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.data_dir:
            env["SOCIAL_PIPELINE_DATA_DIR"] = self.data_dir
        return load_settings(env, token_lookup=lambda name: dg.EnvVar(name).get_value())

    @contextmanager
    def base_urls(self, settings: Settings) -> Iterator[dict[str, str]]:
        with api_base_urls(settings) as urls:
            yield urls
