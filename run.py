#!/usr/bin/env python3
"""One entry point for a fresh machine: `python3 run.py serve` or `python3 run.py test`.

Creates `.venv` beside this file on first use and installs jobgraph into it (with the test
tools for `test`), then runs the command inside it. Needs only Python 3.11+.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_env(extras: str) -> None:
    """Install (or refresh, when pyproject.toml changed) the package into .venv."""
    stamp = str((ROOT / "pyproject.toml").stat().st_mtime_ns)
    want = f"{extras}:{stamp}"
    have = STAMP.read_text() if STAMP.exists() else ""
    installed = have.split("\n")
    # The test extras include everything `serve` needs: either install satisfies the plain one.
    if want in installed or (not extras and any(line.endswith(f":{stamp}") for line in installed)):
        return
    if not (BIN / "python").exists():
        print("run.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    print(f"run.py: installing jobgraph{('[' + extras + ']') if extras else ''}", file=sys.stderr)
    subprocess.check_call(
        [str(BIN / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-e", target],
        cwd=ROOT,
    )
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
