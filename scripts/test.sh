#!/usr/bin/env bash
# The README's test command: a fresh virtual environment, the project with its test and
# scale extras, Chromium for the browser test, the linter, then the whole suite. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test,scale]'
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "installing chromium failed; the browser test will fail" >&2
  else
    echo "chromium is missing; the browser test will fail. As root: apt-get update && apt-get install -y chromium" >&2
  fi
fi
# The Postgres instance test starts a real PostgreSQL server (Debian's package).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
      || echo "installing postgresql failed; the Postgres instance test will fail" >&2
  else
    echo "PostgreSQL is missing; its test will fail. As root: apt-get install -y postgresql" >&2
  fi
fi
.venv/bin/ruff check social_pipeline social_pipeline_tests scripts
exec .venv/bin/pytest "$@"
