#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml: the exact versions, with their hashes, that run.py,
# CI (.ci/run calls run.py) and the Dockerfile install, for CPython 3.11 on Linux x86_64.
#
#   bash scripts/lock.sh                           # keep the pins that still satisfy pyproject.toml
#   bash scripts/lock.sh --upgrade                 # everything to the newest version pyproject.toml allows
#   bash scripts/lock.sh --upgrade-package httpx   # one package (repeat the option for more)
#
# requirements-test.lock (the service and its test tools) is resolved first; requirements.lock
# (the service alone) is then resolved within it, so both name the same versions.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
TOOLS="${TMPDIR:-/tmp}/jobgraph-lock-tools-$UV_VERSION"
if [ ! -x "$TOOLS/bin/uv" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
compile() {
  "$TOOLS/bin/uv" pip compile pyproject.toml --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --no-header --index-url https://pypi.org/simple "$@"
}
compile --extra test -o requirements-test.lock "$@"
compile -c requirements-test.lock -o requirements.lock "$@"
echo "now: git diff requirements*.lock, then python3 run.py lint (run.py reinstalls when a lock changes)"
