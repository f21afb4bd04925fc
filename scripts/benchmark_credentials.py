"""Refreshes per account over two runs, and the time the per-account refresh lock adds.

    .venv/bin/python scripts/benchmark_credentials.py [accounts per platform]

Every TikTok and X account starts with an expired access token and a rotating refresh
token, served by the emulator. Run 1 refreshes each account once; run 2, an hour later,
reuses the stored tokens. Then two collections of the same day run at once, the way an
hourly and a retry run overlap, and the lock's waits are counted.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from social_pipeline.environment import load_environment
from social_pipeline.operations.collect import collect_platform
from social_pipeline.operations.credentials import CredentialProvider
from social_pipeline.sandbox.server import Sandbox, SandboxConfig
from social_pipeline.storage.credentials import CredentialStore

PLATFORMS = ("tiktok", "x")


def main(per_platform: int) -> None:
    now = [datetime(2026, 11, 20, 6, tzinfo=UTC)]
    day = date(2026, 11, 19)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(SandboxConfig(accounts_per_platform=per_platform), clock=lambda: now[0]) as sb,
    ):
        env = {**sb.env(), "SOCIAL_PIPELINE_DATA_DIR": f"{tmp}/data"}
        apps, entries = {}, []
        for platform in PLATFORMS:
            sb.register_app(platform, f"{platform}-id", f"{platform}-secret")
            env |= {
                f"{platform.upper()}_ID": f"{platform}-id",
                f"{platform.upper()}_SECRET": f"{platform}-secret",
            }
            apps[platform] = {
                "client_id_env": f"{platform.upper()}_ID",
                "client_secret_env": f"{platform.upper()}_SECRET",
            }
            for n, account in enumerate(sb.world.accounts(platform)):
                issued = sb.issue_tokens(platform, account.account_id, access_ttl=0)
                env |= {
                    f"T_{platform}_{n}": issued.access_token,
                    f"R_{platform}_{n}": issued.refresh_token,
                }
                entries.append(
                    {
                        "platform": platform,
                        "account_id": account.account_id,
                        "token_env": f"T_{platform}_{n}",
                        "refresh_token_env": f"R_{platform}_{n}",
                    }
                )
        path = Path(tmp) / "accounts.yaml"
        path.write_text(yaml.safe_dump({"apps": apps, "accounts": entries}))
        env["SOCIAL_PIPELINE_ACCOUNTS"] = str(path)
        os.environ.update(env)  # tokens are read from the environment when used
        settings = load_environment(env)

        def run(label: str) -> None:
            before = dict(sb.oauth.refreshes)
            provider = CredentialProvider(settings)
            started = time.perf_counter()
            for platform in PLATFORMS:
                collect_platform(
                    settings, platform, day, base_url=sb.base_url(platform), credentials=provider
                )
            seconds = time.perf_counter() - started
            made = sum(sb.oauth.refreshes.values()) - sum(before.values())
            print(
                f"{label:<28} accounts {len(entries):>4}  refreshes {made:>4} "
                f"({made / len(entries):.2f} per account)  lock waits "
                f"{provider.stats.lock_seconds * 1000:8.1f} ms  run {seconds:6.2f} s"
            )

        run("run 1 (expired tokens)")
        now[0] += timedelta(hours=1)
        run("run 2 (an hour later)")
        now[0] += timedelta(hours=3)  # every access token has expired again

        providers = [CredentialProvider(settings) for _ in range(2)]
        before = sum(sb.oauth.refreshes.values())

        def overlapping(provider: CredentialProvider) -> None:
            for platform in PLATFORMS:
                collect_platform(
                    settings, platform, day, base_url=sb.base_url(platform), credentials=provider
                )

        threads = [threading.Thread(target=overlapping, args=(p,)) for p in providers]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        made = sum(sb.oauth.refreshes.values()) - before
        waited = sum(p.stats.lock_seconds for p in providers)
        print(
            f"{'2 overlapping runs':<28} accounts {len(entries):>4}  refreshes {made:>4} "
            f"({made / len(entries):.2f} per account)  lock waits {waited * 1000:8.1f} ms "
            f"in all  run {seconds:6.2f} s  superseded tokens presented "
            f"{len(sb.oauth.superseded_presented)}"
        )

        store = CredentialStore(Path(tmp) / "lock-bench")
        samples = []
        for _ in range(2000):
            started = time.perf_counter()
            with store.lock("tiktok", "bench"):
                pass
            samples.append(time.perf_counter() - started)
        print(
            f"uncontended lock: median {statistics.median(samples) * 1e6:.0f} us, "
            f"p99 {sorted(samples)[int(len(samples) * 0.99)] * 1e6:.0f} us per acquire+release"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
