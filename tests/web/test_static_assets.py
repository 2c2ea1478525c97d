"""GraphiQL works without internet: its page names no other origin, jobgraph serves every file it
loads (from the package, with long cache headers), the vendored files are the pinned npm releases
recorded in VERSIONS.json, and a built wheel carries them."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import Api

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vendor_assets.py"
STATIC = ROOT / "src" / "jobgraph" / "web" / "static"
VENDOR = STATIC / "vendor"
CONTENT_TYPES = {".js": {"text/javascript", "application/javascript"}, ".css": {"text/css"}}
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data", "srcset", "background"}


class Links(HTMLParser):
    """Every URL-valued attribute of the page, with its tag and SRI hash."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                self.links.append((tag, value.strip(), values.get("integrity")))


def graphiql_page(api: Api) -> str:
    response = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    return response.text


def page_assets(api: Api) -> list[tuple[str, str, str | None]]:
    parser = Links()
    parser.feed(graphiql_page(api))
    return [(tag, url, sri) for tag, url, sri in parser.links if not url.startswith("data:")]


def test_graphiql_names_no_other_origin(api: Api) -> None:
    parser = Links()
    parser.feed(graphiql_page(api))
    assert parser.links, "no links found: the parser missed the page's tags"
    for _tag, url, _sri in parser.links:
        if url.startswith("data:"):
            continue  # the inline favicon
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"the page loads {url} from another origin"
    assert "unpkg.com" not in graphiql_page(api)


def test_every_file_graphiql_loads_is_served_with_its_type_and_hash(api: Api) -> None:
    assets = page_assets(api)
    assert {tag for tag, _, _ in assets} == {"script", "link"}
    assert len(assets) == 6  # React, ReactDOM, GraphiQL (JS, CSS), its explorer plugin (JS, CSS)
    for _tag, url, sri in assets:
        assert url.startswith("/static/vendor/") and "?v=" in url, url
        response = api.client.get(url)
        assert response.status_code == 200, url
        kind = response.headers["content-type"].split(";")[0]
        assert kind in CONTENT_TYPES[Path(urlsplit(url).path).suffix], (url, kind)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url
        assert response.headers["x-content-type-options"] == "nosniff"
        digest = "sha384-" + base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert sri == digest, f"{url}: the page's integrity attribute does not match the file"


def test_static_files_are_revalidated_unless_the_url_names_their_hash(api: Api) -> None:
    _tag, url, _sri = page_assets(api)[0]
    path = urlsplit(url).path
    for stale in (path, f"{path}?v=0123456789abcdef"):
        response = api.client.get(stale)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-cache", stale
    etag = api.client.get(url).headers["etag"]
    again = api.client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["cache-control"].endswith("immutable")
    assert api.client.head(url).status_code == 200


def test_static_serves_only_its_own_files(api: Api) -> None:
    for path in ("/static/nothing.js", "/static/../assets.py", "/static/%2e%2e/assets.py", "/static/vendor/"):
        assert api.client.get(path).status_code == 404, path
    _tag, url, _sri = page_assets(api)[0]
    assert api.client.post(url).status_code == 405
    metrics = api.client.get("/metrics", headers=api.headers()).text
    assert 'route="/static/{path}"' in metrics  # one series for every file, not one per path


def test_the_vendored_files_match_versions_json() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((VENDOR / "VERSIONS.json").read_text())
    packages = {entry["package"]: entry for entry in manifest["packages"]}
    assert {"react", "react-dom", "graphiql", "@graphiql/plugin-explorer"} <= packages.keys()
    for entry in packages.values():
        assert entry["integrity"].startswith("sha512-") and entry["tarball"].startswith("https://registry.npmjs.org/")
        assert entry["license"] == "MIT"
        paths = {item["path"] for item in entry["files"]}
        assert "LICENSE" in paths or entry.get("note"), f"{entry['package']}: no licence kept and no note"


def test_the_check_names_a_changed_missing_or_extra_file(tmp_path: Path) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR, copy)
    react = copy / "react" / "umd" / "react.production.min.js"
    react.write_bytes(react.read_bytes() + b"\n// changed")
    (copy / "react-dom" / "LICENSE").unlink()
    (copy / "graphiql" / "extra.js").write_text("alert(1)")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--dir", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "react/umd/react.production.min.js does not match VERSIONS.json" in result.stderr
    assert "react-dom/LICENSE is missing" in result.stderr
    assert "graphiql/extra.js is not in VERSIONS.json" in result.stderr


@pytest.mark.slow
def test_the_built_package_carries_the_static_files(tmp_path: Path) -> None:
    """setuptools' build_py (what a wheel holds), run on a copy of the project so that no build
    folder lands in the work tree, with the setuptools at hand (no download): it copies every file
    under web/static and the GraphiQL page."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed in this environment")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc"))
    built = tmp_path / "lib"
    result = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(built)],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    wanted = {
        f"jobgraph/{p.relative_to(ROOT / 'src' / 'jobgraph').as_posix()}" for p in STATIC.rglob("*") if p.is_file()
    }
    assert "jobgraph/web/static/vendor/graphiql/graphiql.min.js" in wanted
    assert wanted <= names, sorted(wanted - names)
    assert "jobgraph/schema/graphiql.html" in names
