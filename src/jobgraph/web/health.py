"""/healthz: is the database reachable (and the broker, when there is one)."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from jobgraph.runtime import Runtime
from jobgraph.web.views import call, runtime


def _check(rt: Runtime) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if rt.settings.redis_url:
        try:
            import redis

            client = redis.Redis.from_url(rt.settings.redis_url, socket_timeout=2)
            client.ping()
            client.close()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
    else:
        checks["broker"] = "in-process"
    return checks


async def healthz(request: Request) -> JSONResponse:
    checks = await call(_check, runtime(request))
    healthy = all(v in ("ok", "in-process") for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unhealthy", **checks}, status_code=200 if healthy else 503)


def health_routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz, methods=["GET"])]
