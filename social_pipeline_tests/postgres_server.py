"""A real PostgreSQL 15 that the tests start themselves (Debian's `postgresql` package):
a throwaway cluster on a free loopback port, run as the `postgres` user, which `initdb`
needs when the suite runs as root."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclasses.dataclass
class Postgres:
    port: int

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):  # noqa: ANN201
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)
        conn.autocommit = True
        return conn

    def create_database(self, dbname: str) -> str:
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root; CI runs the suite as root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL 15 on a free loopback port, trust auth, fsync off."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(
            f"PostgreSQL 15 server binaries are missing ({PG_BIN}); these tests start a real "
            "server. On Debian/Ubuntu, as root: apt-get update && apt-get install -y postgresql"
        )
    # As root, under /tmp itself: the postgres user must reach it, and $TMPDIR may be private.
    root = Path(
        tempfile.mkdtemp(prefix="social-pipeline-pg-", dir="/tmp" if os.geteuid() == 0 else None)
    )
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    as_pg = _as_postgres_user()
    subprocess.run(
        [*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        + ["-E", "UTF8", "--locale=C", "--no-sync"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = (root / "postgres.log").open("wb")
    server = subprocess.Popen(
        [*as_pg, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port)]
        + ["-c", "listen_addresses=127.0.0.1", "-k", str(sockets)]
        + ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pg = Postgres(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                pg.connect().close()
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "postgres did not start:\n" + (root / "postgres.log").read_text()
                    ) from None
                time.sleep(0.05)
        yield pg
    finally:
        # SIGINT to the postmaster is Postgres' "fast shutdown"; the whole group goes if it hangs.
        pid_file = data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
