#!/usr/bin/env python3
"""Vendor the browser assets GraphiQL needs, so /graphql works without internet.

    python3 scripts/vendor_assets.py            # download the pinned releases, write the files
    python3 scripts/vendor_assets.py --check    # offline: the committed files match VERSIONS.json

Each package in PINS is fetched from the npm registry as the tarball of its pinned version. The
tarball must match the registry's `dist.integrity` (sha512) and, once a version has been vendored,
the integrity recorded for it in VERSIONS.json (so a registry that changes a published release is
refused). Only the files named in PINS and the package's licence file(s) are extracted, into
`src/jobgraph/web/static/vendor/<package>/`; VERSIONS.json lists package, version, tarball,
integrity, licence and every file with its size, sha256 and SRI hash (sha384, which the GraphiQL
page puts in its `integrity` attributes).

To update: change a version (or the files) in PINS, run the script, review the diff, commit the
vendored files with VERSIONS.json. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

REGISTRY = "https://registry.npmjs.org"
ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "jobgraph" / "web" / "static" / "vendor"
MANIFEST = "VERSIONS.json"
LICENCE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
TIMEOUT = 60


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    files: tuple[str, ...]
    note: str = ""  # why it is here, or where its licence is when the tarball has no licence file
    licence_files: tuple[str, ...] = field(default=())  # found in the tarball when empty


# The versions Strawberry's GraphiQL page (strawberry/static/graphiql.html) loads from a CDN.
PINS: tuple[Pin, ...] = (
    Pin("react", "18.2.0", ("umd/react.production.min.js",)),
    Pin("react-dom", "18.2.0", ("umd/react-dom.production.min.js",)),
    Pin("graphiql", "3.8.3", ("graphiql.min.js", "graphiql.min.css")),
    Pin(
        "@graphiql/plugin-explorer",
        "1.0.2",
        ("dist/index.umd.js", "dist/style.css", "package.json"),
        note="Its tarball has no licence file: package.json declares MIT, and the graphql/graphiql "
        "repository it is built from is under the MIT licence in vendor/graphiql/LICENSE.",
    ),
    Pin(
        "graphiql-explorer",
        "0.9.0",
        (),
        note="Licence only: @graphiql/plugin-explorer's UMD build bundles this package.",
    ),
)


class VendorError(Exception):
    pass


# ----------------------------------------------------------------------------- hashing


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sri(data: bytes, algorithm: str = "sha384") -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def sha512_of(integrity: str) -> str:
    """The sha512 entry of an SRI string (npm's `dist.integrity` may list several hashes)."""
    for entry in integrity.split():
        if entry.startswith("sha512-"):
            return entry
    raise VendorError(f"no sha512 in the integrity {integrity!r}")


# ----------------------------------------------------------------------------- network


def fetch(url: str) -> bytes:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or parsed.hostname != urllib.parse.urlsplit(REGISTRY).hostname:
        raise VendorError(f"refusing to download {url}: only {REGISTRY} is trusted")
    request = urllib.request.Request(url, headers={"User-Agent": "jobgraph-vendor-assets", "Accept": "*/*"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        final = urllib.parse.urlsplit(response.geturl())
        if final.scheme != "https" or final.hostname != parsed.hostname:
            raise VendorError(f"{url} redirected to {response.geturl()}")
        data: bytes = response.read()
        return data


def registry_metadata(pin: Pin) -> dict[str, Any]:
    name = urllib.parse.quote(pin.package, safe="@")  # @scope/name -> @scope%2Fname
    meta: dict[str, Any] = json.loads(fetch(f"{REGISTRY}/{name}/{urllib.parse.quote(pin.version)}"))
    if meta.get("name") != pin.package or meta.get("version") != pin.version:
        raise VendorError(f"the registry answered {meta.get('name')}@{meta.get('version')} for {pin.package}")
    return meta


# ----------------------------------------------------------------------------- tarballs


def safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(part in ("", ".", "..") for part in rel.parts):
        raise VendorError(f"unsafe path {path!r}")
    return rel


def tar_files(tarball: bytes) -> dict[str, bytes]:
    """Regular files of an npm tarball, by path below its top folder (usually `package/`)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            parts = PurePosixPath(member.name).parts
            if len(parts) < 2:
                continue
            rel = str(PurePosixPath(*parts[1:]))
            extracted = tar.extractfile(member)
            if extracted is not None:
                files[rel] = extracted.read()
    return files


def licence_files(pin: Pin, contents: dict[str, bytes]) -> list[str]:
    if pin.licence_files:
        return list(pin.licence_files)
    found = sorted(
        path for path in contents if "/" not in path and path.upper().split(".")[0].split("-")[0] in LICENCE_NAMES
    )
    if not found and not pin.note:
        raise VendorError(f"{pin.package}@{pin.version} has no licence file: say where its licence is in its note")
    return found


# ----------------------------------------------------------------------------- manifest


def read_manifest(vendor: Path) -> dict[str, Any]:
    path = vendor / MANIFEST
    if not path.exists():
        return {"packages": []}
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def recorded(manifest: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(entry["package"], entry["version"]): entry for entry in manifest.get("packages", [])}


def file_entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "size": len(data), "sha256": sha256_hex(data), "sri": sri(data)}


# ----------------------------------------------------------------------------- download


def vendor_one(pin: Pin, known: dict[tuple[str, str], dict[str, Any]], out: Path) -> dict[str, Any]:
    meta = registry_metadata(pin)
    dist = meta.get("dist") or {}
    registry_integrity = sha512_of(str(dist.get("integrity", "")))
    tarball_url = str(dist.get("tarball", ""))
    before = known.get((pin.package, pin.version))
    if before is not None and before["integrity"] != registry_integrity:
        raise VendorError(
            f"{pin.package}@{pin.version}: the registry now says {registry_integrity}, "
            f"VERSIONS.json recorded {before['integrity']}: a published release changed, refusing it"
        )
    tarball = fetch(tarball_url)
    actual = sri(tarball, "sha512")
    if actual != registry_integrity:
        raise VendorError(
            f"{pin.package}@{pin.version}: the tarball is {actual}, the registry says {registry_integrity}"
        )
    contents = tar_files(tarball)
    wanted = [*pin.files, *licence_files(pin, contents)]
    entries = []
    for path in dict.fromkeys(wanted):
        rel = safe_relative(path)
        if path not in contents:
            raise VendorError(f"{pin.package}@{pin.version} has no file {path}")
        target = out / safe_relative(pin.package) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(contents[path])
        entries.append(file_entry(path, contents[path]))
    if before is None:
        print(f"new pin {pin.package}@{pin.version}: recorded {registry_integrity}")
    print(f"{pin.package}@{pin.version}: {len(entries)} files, {sum(e['size'] for e in entries)} bytes")
    entry: dict[str, Any] = {
        "package": pin.package,
        "version": pin.version,
        "license": meta.get("license", ""),
        "tarball": tarball_url,
        "integrity": registry_integrity,
        "files": entries,
    }
    if pin.note:
        entry["note"] = pin.note
    return entry


def write_manifest(folder: Path, packages: list[dict[str, Any]]) -> None:
    manifest = {
        "comment": "Written by scripts/vendor_assets.py (which says how to update); checked by its --check.",
        "registry": REGISTRY,
        "packages": packages,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def download(vendor: Path) -> None:
    known = recorded(read_manifest(vendor))
    staging = vendor.with_name(vendor.name + ".new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        packages = [vendor_one(pin, known, staging) for pin in PINS]
        write_manifest(staging, packages)
        problems = check(staging)
        if problems:
            raise VendorError("the new files do not check: " + "; ".join(problems))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = vendor.with_name(vendor.name + ".old")
    if vendor.exists():
        vendor.rename(old)
    staging.rename(vendor)
    shutil.rmtree(old, ignore_errors=True)
    print(f"wrote {vendor}")


# ----------------------------------------------------------------------------- check


def check(vendor: Path) -> list[str]:
    """What is wrong with the vendored files, offline: every file the manifest lists, with its
    hash; no file it does not list; the manifest agrees with PINS."""
    problems: list[str] = []
    if not (vendor / MANIFEST).exists():
        return [f"{vendor / MANIFEST} is missing: run scripts/vendor_assets.py"]
    manifest = read_manifest(vendor)
    entries = recorded(manifest)
    pinned = {(pin.package, pin.version): pin for pin in PINS}
    for key in pinned.keys() - entries.keys():
        problems.append(f"{key[0]}@{key[1]} is pinned but not vendored: run scripts/vendor_assets.py")
    for key in entries.keys() - pinned.keys():
        problems.append(f"{key[0]}@{key[1]} is vendored but not pinned: run scripts/vendor_assets.py")
    listed: set[Path] = {vendor / MANIFEST}
    for key, entry in sorted(entries.items()):
        paths = [f["path"] for f in entry["files"]]
        pin = pinned.get(key)
        if pin is not None:
            missing = [p for p in pin.files if p not in paths]
            if missing:
                problems.append(f"{key[0]}@{key[1]}: pinned files not vendored: {missing}")
        if not entry.get("integrity", "").startswith("sha512-"):
            problems.append(f"{key[0]}@{key[1]}: no sha512 integrity recorded")
        for item in entry["files"]:
            try:
                path = vendor / safe_relative(entry["package"]) / safe_relative(item["path"])
            except VendorError as exc:
                problems.append(f"{key[0]}: {exc}")
                continue
            listed.add(path)
            if not path.is_file():
                problems.append(f"{path.relative_to(vendor)} is missing")
                continue
            data = path.read_bytes()
            if sha256_hex(data) != item["sha256"] or sri(data) != item["sri"] or len(data) != item["size"]:
                problems.append(f"{path.relative_to(vendor)} does not match VERSIONS.json")
    for path in sorted(p for p in vendor.rglob("*") if p.is_file()):
        if path not in listed:
            problems.append(f"{path.relative_to(vendor)} is not in VERSIONS.json")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify the vendored files offline, change nothing")
    parser.add_argument("--dir", type=Path, default=VENDOR, help=f"the vendor folder (default {VENDOR})")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check(args.dir)
            for problem in problems:
                print(f"vendor_assets: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"vendor_assets: {len(recorded(read_manifest(args.dir)))} packages match {MANIFEST}")
            return 0
        download(args.dir)
        return 0
    except (VendorError, OSError, ValueError, tarfile.TarError) as exc:
        print(f"vendor_assets: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
