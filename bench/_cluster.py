"""What the benchmarks share: a throw-away PostgreSQL schema and Redis namespace, real
`python -m jobgraph` processes (killed, with their process groups, at exit), and figures.

Environment: JOBGRAPH_BENCH_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
and JOBGRAPH_BENCH_REDIS (default redis://127.0.0.1:6379/0). JOBGRAPH_BENCH_SRC (default this
repository's src/) is the jobgraph source the benchmarks run, in their own process and in the
processes they start: point it at an exported older tree (`git archive COMMIT src | tar -x -C DIR`,
then DIR/src) to measure "before" and "after" with the same scripts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("JOBGRAPH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JOBGRAPH_BENCH_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "bench-admin-token-0123456789abcdef"
SRC = Path(os.environ.get("JOBGRAPH_BENCH_SRC") or ROOT / "src").resolve()
sys.path.insert(0, str(SRC))  # before any `import jobgraph`, here and in the scripts
# and in the interpreters this process starts itself (a runner's forkserver does not inherit sys.path)
os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(done: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


class Cluster:
    """A PostgreSQL schema, a Redis namespace and the processes that use them."""

    def __init__(self) -> None:
        self.schema = f"bench_{uuid.uuid4().hex[:10]}"
        self.namespace = f"bench{uuid.uuid4().hex[:8]}"
        self.tmp = Path(tempfile.mkdtemp(prefix="jobgraph-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        self.database_url = f"{PG_URL}{sep}options=-csearch_path%3D{self.schema}"
        self.port = free_port()
        atexit.register(self.close)
        self.engine = create_engine(self.database_url, pool_pre_ping=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBGRAPH_")}
        env.update(
            JOBGRAPH_DATABASE_URL=self.database_url,
            JOBGRAPH_REDIS_URL=REDIS_URL,
            JOBGRAPH_REDIS_NAMESPACE=self.namespace,
            JOBGRAPH_DATA_DIR=str(self.tmp / "data"),
            JOBGRAPH_ADMIN_TOKEN=TOKEN,
            JOBGRAPH_PORT=str(self.port),
            PYTHONPATH=os.pathsep.join([str(SRC), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        )
        env.update(extra)
        return env

    def run(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "jobgraph", *args], env=self.env(), check=True, capture_output=True)

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{args[0]}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobgraph", *args, "--log-level", "warning"],
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_api(self, **env: str) -> None:
        proc = self.start("serve", **env)
        wait_until(lambda: self._healthy(proc), 60, "the API")

    def _healthy(self, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"the API exited: see {self.tmp}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_workers(self, count: int, threads: int, **env: str) -> None:
        before = self.scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL")
        for _ in range(count):
            self.start("worker", "--threads", str(threads), **env)
        wait_until(
            lambda: self.scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL") >= before + count,
            60,
            "the workers to register",
        )

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        self.procs = []
        with contextlib.suppress(Exception):
            self.engine.dispose()
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            self.admin.dispose()
        clear_redis(self.namespace)


def clear_redis(namespace: str) -> None:
    """Remove a benchmark's Redis keys (its namespace), whatever happened to it."""
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def gql(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/graphql", json={"query": query, "variables": variables or {}}).json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]  # type: ignore[no-any-return]


def row(name: str, value: float, unit: str, baseline: float | None = None, baseline_name: str = "") -> str:
    ratio = f"   {value / baseline:6.2f} x {baseline_name}" if baseline else ""
    return f"  {name:<44} {value:>10.1f} {unit:<8}{ratio}"


def jobgraph_source() -> str:
    """Which jobgraph source this process imported, for the report."""
    import jobgraph

    return str(Path(jobgraph.__file__).resolve().parents[1])


def goal(text: str, met: bool) -> str:
    """A goal printed beside the figures (not asserted)."""
    return f"  goal: {text:<58} {'met' if met else 'NOT met'}"


CREATE_JOBS = "mutation($i: [CreateJobInput!]!) { createJobs(inputs: $i) { number } }"


def create_jobs(client: httpx.Client, plugin_id: str, count: int, batch: int = 500) -> list[int]:
    """`count` jobs of `plugin_id` through GraphQL createJobs, `batch` per request; their numbers."""
    numbers: list[int] = []
    for offset in range(0, count, batch):
        created = gql(client, CREATE_JOBS, {"i": [{"pluginId": plugin_id}] * min(batch, count - offset)})
        numbers.extend(int(j["number"]) for j in created["createJobs"])
    return numbers


def register_plugin(client: httpx.Client, plugin_id: str, kind: str, entrypoint: Any, **fields: Any) -> None:
    """Register (or update) a plugin through the GraphQL registerPlugin mutation."""
    query = "mutation($p: PluginInput!) { registerPlugin(input: $p) { pluginId } }"
    gql(client, query, {"p": {"pluginId": plugin_id, "kind": kind, "entrypoint": entrypoint, **fields}})


def in_process_runtime(cluster: Cluster) -> Any:
    """A jobgraph Runtime in this process on the cluster's schema (no Redis: in-process events)."""
    from jobgraph.runtime import build_runtime
    from jobgraph.settings import Settings

    settings = Settings(database_url=cluster.database_url, data_dir=cluster.tmp / "data", redis_url=None)
    return build_runtime(settings)
