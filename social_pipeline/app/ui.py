"""`social-pipeline ui`: `dagster dev` from this environment, "ready" only once it answers."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

# The webserver's cheapest answer: JSON with its version, served once it is up.
READY_PATH = "/server_info"


def dagster_executable() -> Path:
    """The `dagster` installed next to this interpreter: the venv need not be activated."""
    return Path(sys.executable).parent / "dagster"


def ui_command(port: int) -> list[str]:
    return [
        str(dagster_executable()),
        "dev",
        "-m",
        "social_pipeline.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until_answering(
    process: subprocess.Popen, url: str, *, timeout: float = 300.0, interval: float = 0.5
) -> bool:
    """True once `url` answers HTTP 200; False when the process exits first (or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(interval)
    return False


def serve(port: int) -> int:
    """Run the UI until it stops; 1 when it never came up (the reason is printed)."""
    url = f"http://127.0.0.1:{port}"
    if port_in_use(port):
        print(f"error: port {port} is taken; free it or pass --port N", file=sys.stderr)
        return 1
    command = ui_command(port)
    if not Path(command[0]).exists():
        print(
            f"error: no dagster at {command[0]} (next to {sys.executable}); "
            "install the project into this environment: pip install -e .",
            file=sys.stderr,
        )
        return 1
    process = subprocess.Popen(command)
    # Stopped by a service manager (SIGTERM): dagster dev shuts down cleanly on SIGINT.
    signal.signal(signal.SIGTERM, lambda *_: process.send_signal(signal.SIGINT))
    try:
        if not wait_until_answering(process, url + READY_PATH):
            if process.poll() is None:
                process.terminate()
            code = process.wait()
            print(
                f"error: dagster dev stopped (exit code {code}) before the UI answered on "
                f"{url}; its messages are above",
                file=sys.stderr,
            )
            return 1
        print(f"Dagster UI ready on {url} (Ctrl-C stops it)", flush=True)
        return process.wait()
    except KeyboardInterrupt:  # the terminal sent dagster the same Ctrl-C: let it finish
        with contextlib.suppress(KeyboardInterrupt):
            process.wait(timeout=60)
        return 0
