"""The lock files run.py, CI and the Dockerfile install from agree with pyproject.toml: every
dependency is pinned, at a version pyproject.toml allows, with hashes; the service's lock names the
same versions as the test lock. (Refresh both with `bash scripts/lock.sh`.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    for entry in entries:
        if PIN.match(entry):
            assert "--hash=sha256:" in entry, f"{name}: {entry.splitlines()[0]} has no hash"
    return {canonicalize_name(n): v for n, v in PIN.findall(text)}


def requirements(*groups: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for group in groups:
        listed += project["optional-dependencies"][group]
    return [Requirement(r) for r in listed]


def test_each_lock_pins_every_dependency_within_pyproject_s_range() -> None:
    for lock, groups in (("requirements.lock", ()), ("requirements-test.lock", ("test",))):
        pinned = pins(lock)
        for req in requirements(*groups):
            name = canonicalize_name(req.name)
            assert name in pinned, f"{lock} has no {name}: run bash scripts/lock.sh"
            assert req.specifier.contains(pinned[name], prereleases=True), (
                f"{lock} pins {name}=={pinned[name]}, outside {req.specifier}: run bash scripts/lock.sh"
            )


def test_the_service_s_lock_is_the_test_lock_s_versions() -> None:
    service, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {n: (v, test.get(n)) for n, v in service.items() if test.get(n) != v} == {}


def test_every_dependency_with_a_major_version_has_an_upper_bound() -> None:
    unbounded = [
        str(req)
        for req in requirements("test")
        if req.name != "types-jsonschema"
        and not any(spec.operator in ("<", "<=", "~=", "==") for spec in req.specifier)
    ]
    assert unbounded == []
