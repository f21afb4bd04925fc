"""`dagster dev` in a subprocess for tests: a temporary instance, GraphQL, a clean stop.

`dagster dev` started from a script ignores SIGINT/SIGTERM (DESIGN.md, "Known traps"), so
it runs in its own session and is stopped by killing the whole process group.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterDev:
    """One `dagster dev` webserver + daemon on loopback, with its own DAGSTER_HOME."""

    def __init__(self, workdir: Path, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.home = (workdir / "dagster_home").resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        self.data_dir = data_dir.resolve()
        self.log_path = workdir / "dagster-dev.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k != "SOCIAL_PIPELINE_ACCOUNTS"}
        self.env.update(DAGSTER_HOME=str(self.home), SOCIAL_PIPELINE_DATA_DIR=str(self.data_dir))
        self.env.update(env or {})
        self.dagster = Path(sys.executable).with_name("dagster")
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """`dagster <args> -m social_pipeline.definitions` on this instance (before `start`)."""
        cmd = [str(self.dagster), *args, "-m", "social_pipeline.definitions"]
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc.stdout

    def start(self, timeout: float = 120.0) -> None:
        """Start it and wait until the webserver answers."""
        cmd = [str(self.dagster), "dev", "-m", "social_pipeline.definitions"]
        cmd += ["-h", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_signals,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"dagster dev did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after `grace` seconds."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.proc.poll()  # reap the leader, our own child
                if not _group_alive(pgid):
                    break
                time.sleep(0.1)
            if not _group_alive(pgid):
                break
        self.proc.wait(timeout=grace)
        self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc = json.loads(resp.read())
        if doc.get("errors"):
            raise AssertionError(f"GraphQL errors: {json.dumps(doc['errors'], indent=1)[:3000]}")
        return doc["data"]


def _default_signals() -> None:
    # Started from a background shell, SIGINT arrives ignored, and dagster dev maps SIGTERM
    # onto SIGINT's handler: neither would stop it. Restore the defaults in the child.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies, which nobody may reap, don't)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
