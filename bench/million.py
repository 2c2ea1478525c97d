"""Reads at a million jobs: the list, count and stats requests of one `jobgraph serve` process
(PostgreSQL, Redis, no workers) on a database of 1,000,000 ended and 100,000 queued jobs, beside
the trivial requests on the same server.

    python bench/million.py [--jobs 1000000] [--queued N] [--requests 20] [--keep] [--reuse]
    python bench/million.py --jobs 50000            # a quick run, about half a minute

Seed: a database of its own (`jobgraph_bench_million` on the server of JOBGRAPH_BENCH_POSTGRES),
dropped and created anew, migrated with `jobgraph migrate`; the admin (with the bench token),
users, plugins and series registered through the package; then `--jobs` ended jobs (80 %
finished with a result, 12 % failed with an error message, a tenth of them time-outs, 8 %
cancelled) spread over the last 7 days and `--queued` queued jobs (default a tenth of `--jobs`,
2 % of them scheduled) of the last hour, in bulk (`INSERT ... SELECT FROM generate_series`,
`--connections` statements at once), with messages, job series and some feedback. The seeded
tables' indexes, unique constraints and foreign keys are dropped for the insert and made again
after it from the migrated database's own definitions; then VACUUM ANALYZE. The seeding time is
printed. `--keep` leaves the database at exit; `--reuse` (implies `--keep`) uses the one a
previous run left if it holds a complete seed of the same size (it is migrated first), else
seeds it anew.

Measured, one client with a keep-alive connection, after `--warmup` requests: `--requests`
requests each (fewer, at least 3, once one operation took `--budget` seconds), median and p95,
and the median's ratio to `{ __typename }`'s: GET /healthz and `{ __typename }` (baselines);
GraphQL queueStats; CIRCUS's admin queue (all, wait, a deep page); tastypie's PluginResultJob
list with `meta.total_count` (first page, a state filter, a deep offset); GraphQL `jobs`
connections (50 jobs with their plugin and user): the newest, with a status and plugin filter
with and without `totalCount`, a deep page and the last page by keyset cursor, and a search on
the input if the JobFilter offers one (a field whose name starts with `input`, e.g.
`inputContains`, given `{"tag": "t7"}` (2 % of the jobs) and `{"case": 107}` (0.1 %); else the
row says "not available"). A request that fails is reported as ERROR with its message.
Goal (printed, not asserted): every read's median under 50 ms.

Environment: as in _cluster.py (JOBGRAPH_BENCH_POSTGRES, JOBGRAPH_BENCH_REDIS, JOBGRAPH_BENCH_SRC);
only the database name of JOBGRAPH_BENCH_POSTGRES is replaced. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cluster import (
    PG_URL,
    REDIS_URL,
    ROOT,
    SRC,
    TOKEN,
    clear_redis,
    free_port,
    jobgraph_source,
    median,
    percentile,
    wait_until,
)

DATABASE = "jobgraph_bench_million"
GOAL_MS = 50.0
ADMIN_EMAIL = "admin@localhost"

# (plugin id, queue, kind): the seed's plugins, the first ones the busiest.
PLUGINS = [
    ("circus-mra-aneurysm:2.1", "gpu", "docker"),
    ("lung-nodule-cad:1.4", "gpu", "docker"),
    ("liver-segmentation:3.0", "gpu", "docker"),
    ("dicom-anonymiser:1.0", "default", "command"),
    ("report-pdf:0.9", "default", "command"),
    ("bone-age:1.2", "cpu", "docker"),
    ("brain-volumetry:4.2", "cpu", "docker"),
    ("qa-phantom:1.0", "default", "command"),
]
PLUGIN_WEIGHTS = [6, 4, 3, 2, 2, 1, 1, 1]  # out of 20
USERS = 25
WORKERS = 12
SERIES = 60

ERRORS = [
    "RuntimeError: CUDA out of memory while loading the model",
    "ValueError: the series has no slices in the partial volume",
    "FileNotFoundError: /circus/in/0.mhd",
    "KeyError: 'threshold'",
    "AssertionError: slice thickness above 5 mm",
]


# ---------------------------------------------------------------- the database


def database_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@dataclass
class Bench:
    """The bench database, the API process on it, and everything to undo at exit."""

    keep: bool
    url: str = field(default_factory=lambda: database_url(DATABASE))
    namespace: str = field(default_factory=lambda: f"benchm{uuid.uuid4().hex[:8]}")
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="jobgraph-million-")))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.admin = create_engine(database_url("postgres"), isolation_level="AUTOCOMMIT")
        atexit.register(self.close)

    def exists(self) -> bool:
        with self.admin.connect() as conn:
            return bool(conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}).scalar())

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))

    def create(self) -> None:
        self.drop()
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBGRAPH_")}
        env.update(
            JOBGRAPH_DATABASE_URL=self.url,
            JOBGRAPH_REDIS_URL=REDIS_URL,
            JOBGRAPH_REDIS_NAMESPACE=self.namespace,
            JOBGRAPH_DATA_DIR=str(self.tmp / "data"),
            JOBGRAPH_ADMIN_EMAIL=ADMIN_EMAIL,
            JOBGRAPH_ADMIN_TOKEN=TOKEN,
            JOBGRAPH_EMBEDDED_WORKERS="false",
            JOBGRAPH_PORT=str(self.port),
            PYTHONPATH=os.pathsep.join([str(SRC), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        )
        return env

    def migrate(self) -> None:
        done = subprocess.run([sys.executable, "-m", "jobgraph", "migrate"], env=self.env(), capture_output=True)
        if done.returncode:
            raise SystemExit(f"jobgraph migrate failed:\n{done.stderr.decode(errors='replace')[-2000:]}")

    def start_api(self) -> None:
        log = (self.tmp / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobgraph", "serve", "--log-level", "warning"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._healthy, 60, "the API")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.tmp / "serve.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"the API exited:\n{log}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        )

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)
            self.proc = None
        if not self.keep:
            with contextlib.suppress(Exception):
                self.drop()
        with contextlib.suppress(Exception):
            self.admin.dispose()
        clear_redis(self.namespace)
        shutil.rmtree(self.tmp, ignore_errors=True)


def seed_mark(ended: int, queued: int) -> str:
    """What the database's comment says once a seed is complete (a run stopped halfway leaves none)."""
    return f"jobgraph bench seed v1: {ended} ended, {queued} queued"


def seeded_mark(admin: Engine) -> str | None:
    with admin.connect() as conn:
        query = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :d"
        return conn.execute(text(query), {"d": DATABASE}).scalar()  # type: ignore[no-any-return]


def register(url: str, data_dir: Path) -> tuple[list[int], list[str]]:
    """The admin (with the bench token), users, plugins and series, through the package.
    Returns the user ids and the series uids."""
    from jobgraph.resolvers import plugins, series, users
    from jobgraph.resolvers.viewer import ALL_PRIVILEGES
    from jobgraph.runtime import build_runtime
    from jobgraph.settings import Settings
    from jobgraph.unit import in_unit

    rt = build_runtime(
        Settings(database_url=url, data_dir=data_dir, redis_url=None, admin_email=ADMIN_EMAIL, admin_token=TOKEN)
    )
    try:
        in_unit(rt, users.ensure_admin, write=True)
        ids = []
        for i in range(USERS):
            privileges = ALL_PRIVILEGES if i == 0 else ["executePlugin", "inputPersonalFeedback"]
            email = f"radiologist{i:02d}@hospital.example"
            ids.append(in_unit(rt, users.create_user, None, email, privileges, write=True).id)
        for plugin_id, queue, kind in PLUGINS:
            entrypoint = f"circus/{plugin_id}" if kind == "docker" else ["/opt/plugins/run", plugin_id]
            spec = plugins.PluginSpec(
                plugin_id=plugin_id,
                kind=kind,
                entrypoint=entrypoint,
                name=plugin_id.split(":")[0],
                version=plugin_id.split(":")[1],
                queue=queue,
                timeout=600,
                attempts=1,
            )
            in_unit(rt, plugins.register_plugin, None, spec, write=True)
        uids = []
        for i in range(SERIES):
            uid = f"1.2.840.113619.2.55.3.{4000 + i}.{20240101 + i}"
            spec = series.SeriesSpec(series_uid=uid, modality=("CT", "MR")[i % 2], image_count=200 + i)
            in_unit(rt, series.register_series, None, spec, write=True)
            uids.append(uid)
        return [int(i) for i in ids if i is not None], uids
    finally:
        rt.close()


# One hash per job number; its digits (h % 100, h / 100 % 10, ...) pick status, plugin, priority.
JOBS_SQL = """
INSERT INTO jobs (number, job_id, plugin_id, user_id, status, priority, queue, input, attempts, retries,
                  retried_at, run_at, expires, lax, notes, result, error_message, failure_kind,
                  cancel_requested, hold, worker_id, run_level, created_at, updated_at, started_at, finished_at)
SELECT n,
       substr(md5('jobgraph-bench-' || n), 1, 26),
       (CAST(:plugins AS text[]))[p],
       (CAST(:users AS int[]))[1 + abs(h / 1000 % cardinality(CAST(:users AS int[])))],
       status,
       CASE abs(h / 100000 % 20) WHEN 0 THEN 20 WHEN 1 THEN 10 WHEN 2 THEN -10 ELSE 0 END,
       (CAST(:queues AS text[]))[p],
       jsonb_build_object('case', n % 1000, 'tag', 't' || (n % 50), 'threshold', round((n % 9) / 10.0, 1),
                          'mode', (ARRAY['fast', 'full', 'research'])[1 + n % 3]),
       1, 0, NULL, run_at, NULL, false,
       CASE status WHEN 'finished' THEN '{"progress": 1}'::jsonb ELSE '{}'::jsonb END,
       CASE status WHEN 'finished'
            THEN jsonb_build_object('score', round((abs(h % 1000) / 1000.0)::numeric, 3), 'lesions', n % 5)
       END,
       CASE WHEN status = 'failed' AND kind = 'timeout' THEN 'the plugin exceeded its time limit of 600 s'
            WHEN status = 'failed'
            THEN (CAST(:errors AS text[]))[1 + abs(h / 1000000 % cardinality(CAST(:errors AS text[])))]
                 || ' (case ' || (n % 1000) || ')'
       END,
       CASE WHEN status = 'failed' THEN kind END,
       status = 'cancelled' AND started_at IS NOT NULL,
       hold,
       CASE WHEN started_at IS NOT NULL
            THEN (CAST(:workers AS int[]))[1 + abs(h / 7 % cardinality(CAST(:workers AS int[])))]
       END,
       'default',
       created_at,
       coalesce(finished_at, created_at),
       started_at,
       finished_at
FROM (
    SELECT n, h, p, status, kind, created_at, hold, run_at,
           CASE WHEN status = 'queued' OR (status = 'cancelled' AND h % 2 = 0) THEN NULL
                ELSE created_at + make_interval(secs => abs(h / 13 % 30)) END AS started_at,
           CASE WHEN status <> 'queued'
                THEN created_at + make_interval(secs => 35 + abs(h / 17 % 300)) END AS finished_at
    FROM (
        SELECT n, h,
               (CAST(:weights AS int[]))[1 + abs(h / 100 % 20)] AS p,
               CASE WHEN n > :ended THEN 'queued'
                    WHEN abs(h % 100) < 80 THEN 'finished'
                    WHEN abs(h % 100) < 92 THEN 'failed'
                    ELSE 'cancelled' END AS status,
               CASE WHEN abs(h / 10000 % 10) = 0 THEN 'timeout' ELSE 'exception' END AS kind,
               CASE WHEN n > :ended
                    THEN now() - interval '1 hour' + make_interval(secs => 3600.0 * (n - :ended) / :queued)
                    ELSE now() - interval '7 days' + make_interval(secs => (7 * 86400.0 - 7200) * n / :ended)
               END AS created_at,
               CASE WHEN n > :ended AND abs(h % 50) = 0 THEN 'scheduled' END AS hold,
               CASE WHEN n > :ended AND abs(h % 50) = 0 THEN now() + interval '6 hours' END AS run_at
        FROM (SELECT n, hashint8(n::bigint) AS h
                FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n) AS numbers
    ) AS picked
) AS timed
"""

MESSAGES_SQL = """
INSERT INTO messages (job_number, status, text, tool_id, created_at)
SELECT number, 1, 'started on worker ' || worker_id, 0, started_at
  FROM jobs WHERE started_at IS NOT NULL AND number % 10 = 0
UNION ALL
SELECT number, 2, 'slice spacing is irregular; resampled', 0, started_at + interval '2 seconds'
  FROM jobs WHERE started_at IS NOT NULL AND number % 40 = 1
UNION ALL
SELECT number, 3, error_message, 0, finished_at FROM jobs WHERE status = 'failed'
"""

SERIES_SQL = """
INSERT INTO job_series (job_number, position, series_uid, start, "end", delta)
SELECT number, 0, (CAST(:series AS text[]))[1 + number / 10 % cardinality(CAST(:series AS text[]))],
       CASE WHEN partial THEN 1 END, CASE WHEN partial THEN 100 END, CASE WHEN partial THEN 1 END
  FROM (SELECT number, number % 30 = 3 AS partial FROM jobs WHERE number % 10 = 3) AS picked
"""

FEEDBACK_SQL = """
INSERT INTO feedback (id, job_number, user_id, is_consensual, data, action_log, created_at)
SELECT substr(md5('jobgraph-bench-feedback-' || number), 1, 26), number, user_id, false,
       jsonb_build_object('lesions', number % 5, 'agree', number % 3 <> 0), '[]'::jsonb,
       finished_at + interval '1 hour'
  FROM jobs WHERE status = 'finished' AND number % 100 = 7
"""

WORKERS_SQL = """
INSERT INTO workers (host, pid, queues, started_at, last_seen_at, stopped_at)
SELECT 'gpu-node-' || i, 1000 + i, '["gpu", "cpu", "default"]'::jsonb,
       now() - interval '8 days', now() - interval '1 hour', now() - interval '1 hour'
  FROM generate_series(1, :count) AS i
RETURNING id
"""


SEEDED = ("jobs", "messages", "job_series", "feedback")

# The foreign keys, unique constraints and indexes (not the primary keys) of the seeded tables, as
# the migrations made them: dropped before the bulk insert and made again after it from these very
# definitions, which is several times faster than keeping them up to date row by row.
LOOSE_SQL = """
SELECT conrelid::regclass::text, 'constraint', quote_ident(conname), pg_get_constraintdef(oid), contype = 'f'
  FROM pg_constraint WHERE conrelid = ANY(CAST(:tables AS regclass[])) AND contype IN ('f', 'u')
UNION ALL
SELECT indrelid::regclass::text, 'index', indexrelid::regclass::text, pg_get_indexdef(indexrelid), false
  FROM pg_index
 WHERE indrelid = ANY(CAST(:tables AS regclass[])) AND NOT indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid AND contype IN ('p', 'u', 'x'))
"""


@dataclass(frozen=True)
class Loose:
    table: str
    kind: str  # constraint | index
    name: str
    definition: str
    foreign: bool

    def drop(self) -> str:
        if self.kind == "index":
            return f"DROP INDEX {self.name}"
        return f"ALTER TABLE {self.table} DROP CONSTRAINT {self.name}"

    def create(self) -> str:
        if self.kind == "index":
            return self.definition
        return f"ALTER TABLE {self.table} ADD CONSTRAINT {self.name} {self.definition}"


def _parallel(engine: Engine, statements: list[tuple[str, dict[str, Any]]], connections: int) -> None:
    """Each statement in its own transaction, `connections` at a time."""

    def run(statement: tuple[str, dict[str, Any]]) -> None:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            conn.execute(text(statement[0]), statement[1])

    with ThreadPoolExecutor(max_workers=max(1, connections)) as pool:
        for done in [pool.submit(run, s) for s in statements]:
            done.result()


def seed(
    url: str, ended: int, queued: int, user_ids: list[int], series: list[str], connections: int
) -> dict[str, float]:
    """The jobs and what hangs off them, in bulk, `connections` statements at a time; the seconds
    each step took."""
    weights = [i + 1 for i, w in enumerate(PLUGIN_WEIGHTS) for _ in range(w)]
    params: dict[str, Any] = {
        "plugins": [p for p, _, _ in PLUGINS],
        "queues": [q for _, q, _ in PLUGINS],
        "weights": weights,
        "users": user_ids,
        "errors": ERRORS,
        "ended": ended,
        "queued": max(queued, 1),
        "series": series,
    }
    steps: dict[str, float] = {}
    engine = create_engine(url, pool_size=max(connections, 1))
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            params["workers"] = [int(i) for i in conn.execute(text(WORKERS_SQL), {"count": WORKERS}).scalars()]
            loose = [Loose(*r) for r in conn.execute(text(LOOSE_SQL), {"tables": list(SEEDED)})]
            for item in sorted(loose, key=lambda item: not item.foreign):  # foreign keys first
                conn.execute(text(item.drop()))
        total = ended + queued
        chunks = max(1, connections) * 2
        bounds = [(1 + total * i // chunks, total * (i + 1) // chunks) for i in range(chunks)]
        _parallel(engine, [(JOBS_SQL, {**params, "first": a, "last": b}) for a, b in bounds if a <= b], connections)
        steps["jobs"] = time.perf_counter() - started
        started = time.perf_counter()
        _parallel(engine, [(MESSAGES_SQL, {}), (SERIES_SQL, params), (FEEDBACK_SQL, {})], connections)
        with engine.begin() as conn:
            for table, column in (("jobs", "number"), ("messages", "id"), ("workers", "id")):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), max({column})) FROM {table}")
                )
        steps["messages, series, feedback"] = time.perf_counter() - started
        started = time.perf_counter()
        _parallel(engine, [(i.create(), {}) for i in loose if i.kind == "index"], connections)
        for item in sorted((i for i in loose if i.kind == "constraint"), key=lambda item: item.foreign):
            _parallel(engine, [(item.create(), {})], 1)
        steps[f"{len(loose)} indexes and constraints"] = time.perf_counter() - started
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{seed_mark(ended, queued)}'"))
        steps["VACUUM ANALYZE"] = time.perf_counter() - started
    finally:
        engine.dispose()
    return steps


# ---------------------------------------------------------------- the requests


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    error: str | None = None
    unavailable: str | None = None
    note: str = ""


def _check(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    if response.headers.get("content-type", "").startswith("application/json") and response.content[:1] == b"{":
        body = response.json()
        if isinstance(body, dict) and body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:300]}")


def measure(name: str, request: Callable[[], httpx.Response], requests: int, warmup: int, budget: float) -> Result:
    result = Result(name)
    try:
        for _ in range(warmup):
            _check(request())
        deadline = time.monotonic() + budget
        while len(result.latencies) < requests and (len(result.latencies) < 3 or time.monotonic() < deadline):
            started = time.perf_counter()
            response = request()
            elapsed = (time.perf_counter() - started) * 1000
            _check(response)
            result.latencies.append(elapsed)
    except (RuntimeError, httpx.HTTPError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:400]
    return result


def gql_data(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = client.post("/graphql", json={"query": query, "variables": variables or {}}).json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:300]}")
    return body["data"]  # type: ignore[no-any-return]


def input_filter_field(client: httpx.Client) -> tuple[str, str] | None:
    """(name, type name) of a JobFilter field that searches the input, if the schema has one."""
    query = '{ __type(name: "JobFilter") { inputFields { name type { name kind ofType { name } } } } }'
    fields = gql_data(client, query)["__type"]["inputFields"]
    for f in fields:
        if f["name"].lower().startswith("input"):
            kind = f["type"]
            return f["name"], kind["name"] or (kind["ofType"] or {}).get("name") or ""
    return None


NODE = "jobId number status priority queue createdAt finishedAt errorMessage plugin { pluginId } user { email }"
CONNECTION = (
    "query($f: JobFilter, $after: String, $o: JobOrder) { jobs(filter: $f, first: 50, after: $after, orderBy: $o)"
    " { %s } }"
)
WITH_TOTAL = f"totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {NODE} }} }}"
WITHOUT_TOTAL = f"pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {NODE} }} }}"
QUEUE_STATS = (
    "{ queueStats { total byStatus { status count } byQueue { queue queued running }"
    " workers { id host alive jobsRunning } } }"
)
CIRCUS = "/api/admin/plugin-job-queue"
TASTYPIE = "/rundb/api/v1/PluginResultJob/"


def cursor_before(client: httpx.Client, created_before: datetime) -> str:
    """A NEWEST-order cursor at the newest job created before `created_before` (the connection's
    cursors hold the ordering's values, so one from a filtered list pages the unfiltered one)."""
    query = "query($f: JobFilter) { jobs(filter: $f, first: 1) { edges { cursor } } }"
    edges = gql_data(client, query, {"f": {"createdBefore": created_before.isoformat()}})["jobs"]["edges"]
    if not edges:
        raise RuntimeError("no job before that time")
    return str(edges[0]["cursor"])


def operations(client: httpx.Client) -> list[tuple[str, Callable[[], httpx.Response] | str]]:
    """(name, request) in the order measured; a str instead of a request says why it is not available."""

    def graphql(query: str, variables: dict[str, Any] | None = None) -> Callable[[], httpx.Response]:
        return lambda: client.post("/graphql", json={"query": query, "variables": variables or {}})

    def get(path: str, **params: Any) -> Callable[[], httpx.Response]:
        return lambda: client.get(path, params=params)

    busiest = PLUGINS[0][0]
    failed_of_plugin = {"status": ["failed"], "pluginId": [busiest]}
    ops: list[tuple[str, Callable[[], httpx.Response] | str]] = [
        ("GET /healthz (baseline)", get("/healthz")),
        ("GraphQL { __typename } (baseline)", graphql("{ __typename }")),
        ("GraphQL queueStats", graphql(QUEUE_STATS)),
        ("CIRCUS queue, state=all, page 1", get(CIRCUS)),
        ("CIRCUS queue, state=wait, page 1", get(CIRCUS, state="wait")),
        ("CIRCUS queue, state=all, page 25000", get(CIRCUS, page=25000)),
        ("tastypie list, first page", get(TASTYPIE)),
        ("tastypie list, state=Error", get(TASTYPIE, state="Error")),
        ("tastypie list, offset=500000", get(TASTYPIE, offset=500000)),
        ("GraphQL jobs first 50, totalCount", graphql(CONNECTION % WITH_TOTAL)),
        ("GraphQL jobs failed+plugin, totalCount", graphql(CONNECTION % WITH_TOTAL, {"f": failed_of_plugin})),
        ("GraphQL jobs failed+plugin, no totalCount", graphql(CONNECTION % WITHOUT_TOTAL, {"f": failed_of_plugin})),
    ]
    found = input_filter_field(client)
    if found is None:
        reason = "not available (JobFilter has no input field)"
        ops += [("GraphQL jobs input {tag: t7}, totalCount", reason), ("GraphQL jobs input {case: 107}", reason)]
    else:
        name, type_name = found

        def value(v: dict[str, Any]) -> Any:
            return v if type_name == "JSON" else json.dumps(v)

        for label, wanted in (("{tag: t7}", {"tag": "t7"}), ("{case: 107}", {"case": 107})):
            ops.append(
                (
                    f"GraphQL jobs {name} {label}, totalCount",
                    graphql(CONNECTION % WITH_TOTAL, {"f": {name: value(wanted)}}),
                )
            )
    # Keyset pages: a cursor in the middle of the newest-first list, and one 30 jobs from its end.
    try:
        now = datetime.now(UTC)
        middle = cursor_before(client, now - timedelta(days=3.5))
        oldest = gql_data(client, "{ jobs(orderBy: OLDEST, first: 30) { edges { node { createdAt } } } }")
        last = cursor_before(client, datetime.fromisoformat(oldest["jobs"]["edges"][-1]["node"]["createdAt"]))
    except (RuntimeError, httpx.HTTPError, KeyError, IndexError) as exc:
        reason = f"no cursor: {exc}"[:200]
        ops += [("GraphQL jobs deep page by cursor", reason), ("GraphQL jobs last page by cursor", reason)]
    else:
        ops += [
            ("GraphQL jobs deep page by cursor", graphql(CONNECTION % WITHOUT_TOTAL, {"after": middle})),
            ("GraphQL jobs deep page by cursor, totalCount", graphql(CONNECTION % WITH_TOTAL, {"after": middle})),
            (
                "GraphQL jobs failed+plugin deep page by cursor",
                graphql(CONNECTION % WITHOUT_TOTAL, {"after": middle, "f": failed_of_plugin}),
            ),
            ("GraphQL jobs last page by cursor", graphql(CONNECTION % WITHOUT_TOTAL, {"after": last})),
        ]
    return ops


# ---------------------------------------------------------------- the report


def report(results: list[Result], ended: int, queued: int) -> None:
    base = next((r for r in results if "__typename" in r.name and r.latencies), None)
    base_ms = median(base.latencies) if base else None
    print(f"\nReads at {ended:,} ended + {queued:,} queued jobs: one `jobgraph serve`, one client, PostgreSQL")
    print(f"  {'operation':<50} {'n':>3} {'median ms':>10} {'p95 ms':>9} {'x __typename':>13}  goal < {GOAL_MS:g} ms")
    missed = []
    for r in results:
        if r.unavailable:
            print(f"  {r.name:<50} {'':>3} {r.unavailable}")
            continue
        if r.error:
            print(f"  {r.name:<50} {'':>3} {'ERROR':>10}   {r.error[:160]}")
            missed.append(r.name)
            continue
        mid, p95 = median(r.latencies), percentile(r.latencies, 95)
        ratio = f"{mid / base_ms:12.1f}x" if base_ms else ""
        met = mid < GOAL_MS
        if not met:
            missed.append(r.name)
        verdict = "met" if met else "NOT met"
        print(f"  {r.name:<50} {len(r.latencies):>3} {mid:>10.1f} {p95:>9.1f} {ratio:>13}  {verdict}")
    print(f"  goal: every read's median under {GOAL_MS:g} ms: {'met' if not missed else f'NOT met ({len(missed)})'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="ended jobs (finished, failed, cancelled)")
    parser.add_argument("--queued", type=int, default=None, help="queued jobs (default: a tenth of --jobs)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per operation")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per operation first")
    parser.add_argument(
        "--budget", type=float, default=15.0, help="at most this many seconds an operation (3 requests at least)"
    )
    parser.add_argument("--connections", type=int, default=2, help="statements at once while seeding")
    parser.add_argument("--keep", action="store_true", help=f"leave the database {DATABASE} at exit")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept seed of the same size (implies --keep)")
    args = parser.parse_args()
    ended = args.jobs
    queued = args.jobs // 10 if args.queued is None else args.queued
    if ended < 1000 or queued < 0:
        raise SystemExit("--jobs must be at least 1000, --queued at least 0")

    bench = Bench(keep=args.keep or args.reuse)
    # SIGTERM (and SIGHUP) end like Ctrl-C: through the finally blocks and atexit, killing the API.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    print(f"jobgraph from {jobgraph_source()}; database {DATABASE}")
    try:
        reused = False
        if args.reuse and bench.exists() and seeded_mark(bench.admin) == seed_mark(ended, queued):
            bench.migrate()
            reused = True
        if reused:
            print(f"seed: reusing {DATABASE} ({ended:,} ended + {queued:,} queued jobs)")
        else:
            started = time.perf_counter()
            bench.create()
            bench.migrate()
            migrated = time.perf_counter()
            user_ids, series = register(bench.url, bench.tmp / "data")
            registered = time.perf_counter()
            steps = seed(bench.url, ended, queued, user_ids, series, args.connections)
            total = time.perf_counter() - started
            parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())
            print(
                f"seed: {ended:,} ended + {queued:,} queued jobs in {total:.1f} s "
                f"(create+migrate {migrated - started:.1f} s, register {registered - migrated:.1f} s, {parts})"
            )
        bench.start_api()
        results = []
        with bench.client() as client:
            for name, request in operations(client):
                if isinstance(request, str):
                    results.append(Result(name, unavailable=request))
                    continue
                results.append(measure(name, request, args.requests, args.warmup, args.budget))
                sys.stderr.write(".")
                sys.stderr.flush()
        sys.stderr.write("\n")
        report(results, ended, queued)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
