"""/static: files shipped inside the package (`src/jobgraph/web/static/`), so every page jobgraph
serves works without internet. GraphiQL's React and GraphiQL bundles are in `static/vendor/`,
written by `scripts/vendor_assets.py` and listed with their versions and checksums in
`static/vendor/VERSIONS.json`.

Pages link a file with `static_url(path)`, which appends the file's content hash (`?v=...`):
a request that names the current hash may be cached for a year (`immutable`), as a new release of
the file gets a new URL; any other request is answered `no-cache` (the browser revalidates with
the ETag). `static_sri(path)` is the file's Subresource Integrity hash for the `integrity`
attribute. The files are public: no page data, no secrets, the same for every caller.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@lru_cache(maxsize=256)
def _digests(path: Path, mtime_ns: int, size: int) -> tuple[str, str]:
    data = path.read_bytes()
    version = hashlib.sha256(data).hexdigest()[:16]
    sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    return version, sri


def _file(relative: str) -> Path:
    path = (STATIC_DIR / relative).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise FileNotFoundError(f"no static file {relative!r} in {STATIC_DIR}")
    return path


def _digest_of(path: Path) -> tuple[str, str]:
    stat = path.stat()
    return _digests(path, stat.st_mtime_ns, stat.st_size)


def static_url(relative: str) -> str:
    """`/static/<relative>?v=<content hash>` for a file under static/ (FileNotFoundError if none)."""
    version, _ = _digest_of(_file(relative))
    return f"{STATIC_PREFIX}/{relative}?v={version}"


def static_sri(relative: str) -> str:
    """The file's `sha384-...` Subresource Integrity hash."""
    _, sri = _digest_of(_file(relative))
    return sri


class PackageStatic(StaticFiles):
    """Starlette's StaticFiles (GET and HEAD, ETag and Last-Modified, 304s, no directory listing)
    with cache headers: a year for a URL that names the file's current hash, else revalidate."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        version, _ = _digests(Path(full_path), stat_result.st_mtime_ns, stat_result.st_size)
        response.headers["Cache-Control"] = IMMUTABLE if asked == [version] else REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_routes() -> list[BaseRoute]:
    return [Mount(STATIC_PREFIX, app=PackageStatic(packages=[("jobgraph.web", "static")]), name="static")]
