"""examples/plugin-template as a new user meets it: pip-installed into an environment (a fresh
venv that sees jobgraph's own packages), found through its entry point with no PYTHONPATH, its
job run, its own tests passing. Offline: pip uses no index and no build isolation."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "plugin-template"


def run(python: Path, *args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("JOBGRAPH_")}
    done = subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_template_installs_with_pip_and_its_jobs_run(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    (purelib,) = Path(env_dir / "lib").glob("python3*/site-packages")
    # jobgraph and its dependencies (and pip, setuptools, pytest) as this test's environment has them.
    (purelib / "jobgraph-test-env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    )
    source = shutil.copytree(TEMPLATE, tmp_path / "plugin-template")  # setuptools builds in the tree
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-build-isolation",
        "--no-deps",
        str(source),
        cwd=tmp_path,
    )

    validated = run(python, "-m", "jobgraph", "plugin", "validate", cwd=tmp_path)
    assert validated.stdout == "ok example.word-count (python, jobgraph_example_plugin.plugin:word_count)\n"
    listed = run(python, "-m", "jobgraph", "plugin", "list", "--installed", cwd=tmp_path)
    assert listed.stdout == "jobgraph-example-plugin 1.0.0\tword-count\texample.word-count\n"

    own_tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests"), cwd=source)
    assert "5 passed" in own_tests.stdout, own_tests.stdout

    (tmp_path / "server").mkdir()
    ran = run(python, "-m", "tests.plugins.template_job", str(tmp_path / "server"), cwd=ROOT)
    seen = json.loads(ran.stdout.splitlines()[-1])
    assert seen["plugins"] == [{"pluginId": "example.word-count", "version": "1.0.0", "kind": "python"}]
    job = seen["job"]
    assert job["status"] == "finished", job
    assert job["result"] == {"words": 7, "distinct": 5, "top": [{"word": "the", "count": 3}]}
    assert job["messages"] == [
        {"status": 1, "text": "text 1 of 2: 5 words"},
        {"status": 1, "text": "text 2 of 2: 2 words"},
    ]
    assert seen["files"]["words.csv"].splitlines()[:2] == ["word,count", "the,3"]
