#!/usr/bin/env python3
"""One entry point for a fresh machine: `python3 run.py serve` or `python3 run.py test`.

Creates `.venv` beside this file on first use and installs jobgraph into it (with the test
tools for `test`), then runs the command inside it. Needs only Python 3.11+.

What it installs are the exact versions of the lock files, checked against their hashes:
requirements.lock (the service) or requirements-test.lock (the service and its test tools);
`bash scripts/lock.sh` refreshes them from pyproject.toml. It installs again when
pyproject.toml or a lock file changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
LOCKS = {"": ROOT / "requirements.lock", "test": ROOT / "requirements-test.lock"}


def _fingerprint() -> str:
    """What an install depends on: pyproject.toml and both lock files (the test lock holds the
    service's own lock, version for version)."""
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", *LOCKS.values()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_env(extras: str) -> None:
    """Install (or refresh, when pyproject.toml or a lock changed) the package into .venv."""
    stamp = _fingerprint()
    want = f"{extras}:{stamp}"
    have = STAMP.read_text() if STAMP.exists() else ""
    installed = have.split("\n")
    # The test extras include everything `serve` needs: either install satisfies the plain one.
    if want in installed or (not extras and any(line.endswith(f":{stamp}") for line in installed)):
        return
    if not (BIN / "python").exists():
        print("run.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    lock = LOCKS[extras]
    print(f"run.py: installing jobgraph{('[' + extras + ']') if extras else ''} from {lock.name}", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.check_call([*pip, "--require-hashes", "-r", str(lock)], cwd=ROOT)
    # Its dependencies are all in the lock: the package itself adds none.
    subprocess.check_call([*pip, "--no-deps", "-e", "."], cwd=ROOT)
    STAMP.write_text(have + "\n" + want if have else want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"serve", "test", "jobgraph", "lint"}:
        print("usage: python3 run.py serve [options] | test [pytest args] | lint | jobgraph ...")
        return 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        ensure_env("")
        return subprocess.call([str(BIN / "jobgraph"), "serve", *rest], cwd=ROOT)
    if command == "jobgraph":
        ensure_env("")
        return subprocess.call([str(BIN / "jobgraph"), *rest], cwd=ROOT)
    ensure_env("test")
    if command == "lint":
        code = subprocess.call([str(BIN / "ruff"), "check", "src", "tests", "bench"], cwd=ROOT)
        return code or subprocess.call([str(BIN / "mypy")], cwd=ROOT)
    return subprocess.call([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
