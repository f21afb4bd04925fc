#!/usr/bin/env bash
# The README's test command: a fresh virtual environment, the project with its test
# extra, then the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/pytest "$@"
