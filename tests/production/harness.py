"""Real processes for the production-path tests: `python -m jobgraph migrate | serve | worker`
against the local PostgreSQL (a schema of the test's own) and Redis (a database number of the
test's own, and a key namespace of its own).

Every process starts in a new session, so cleanup kills its whole group (plugin children and
forkservers too). The test process keeps a Runtime on the same database and Redis channel: it
waits on the workers' job events (Redis pub/sub) and re-checks the database, always under a
deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from jobgraph.db.models import Job, Worker
from jobgraph.events import JobEvent
from jobgraph.resolvers import jobs as job_cases
from jobgraph.resolvers import plugins, users
from jobgraph.runtime import Runtime, build_runtime
from jobgraph.settings import Settings
from tests.production import recorder
from tests.support import ADMIN_EMAIL, ADMIN_TOKEN, unit_call

REPO = Path(__file__).resolve().parents[2]
ENDED = ("finished", "failed", "cancelled", "invalidated")

# Short timings for every process of a test cluster (JOBGRAPH_* as in production).
FAST = {
    "JOBGRAPH_WORKER_DEAD_AFTER_SECONDS": "2",
    "JOBGRAPH_WORKER_HEARTBEAT_SECONDS": "0.2",
    "JOBGRAPH_SWEEP_SECONDS": "0.2",
    "JOBGRAPH_STALE_WAKE_SECONDS": "1",
    "JOBGRAPH_RETRY_BACKOFF_BASE": "0.1",
    "JOBGRAPH_RETRY_BACKOFF_FACTOR": "0",
    "JOBGRAPH_CANCEL_POLL_SECONDS": "0.1",
    "JOBGRAPH_STOP_GRACE_SECONDS": "0.5",
    "JOBGRAPH_SHUTDOWN_GRACE_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    done: Callable[[], bool],
    timeout: float,
    what: str,
    rt: Runtime | None = None,
    relevant: Callable[[JobEvent], bool] = lambda e: True,
    poll: float = 0.25,
) -> None:
    """Until `done()`: re-checked on each relevant job event (when `rt` is given) and at least
    every `poll` seconds (events are at most once; the database is the truth)."""
    import threading

    changed = threading.Event()
    remove = rt.events.add_listener(lambda e: changed.set() if relevant(e) else None) if rt else (lambda: None)
    deadline = time.monotonic() + timeout
    try:
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            changed.wait(min(remaining, poll))
            changed.clear()
    finally:
        remove()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)  # reaped: a zombie would still look alive to kill(pid, 0)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    tmp: Path
    database_url: str
    redis_url: str
    namespace: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    api_port: int | None = None
    _rt: Runtime | None = None
    _http: httpx.Client | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmp / "data"

    @property
    def runs_log(self) -> Path:
        return self.tmp / "runs.log"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBGRAPH_")}
        env.update(FAST)
        env.update(
            JOBGRAPH_DATABASE_URL=self.database_url,
            JOBGRAPH_REDIS_URL=self.redis_url,
            JOBGRAPH_REDIS_NAMESPACE=self.namespace,
            JOBGRAPH_DATA_DIR=str(self.data_dir),
            JOBGRAPH_ADMIN_EMAIL=ADMIN_EMAIL,
            JOBGRAPH_ADMIN_TOKEN=ADMIN_TOKEN,
            JOBGRAPH_HOST="127.0.0.1",
            PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            PYTHONUNBUFFERED="1",
            dramatiq_restart_delay="200",  # a consumer that lost Redis tries again after 0.2 s, not 3 s
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def settings(self) -> Settings:
        return Settings(
            database_url=self.database_url,
            redis_url=self.redis_url,
            redis_namespace=self.namespace,
            data_dir=self.data_dir,
            admin_email=ADMIN_EMAIL,
            admin_token=ADMIN_TOKEN,
            worker_dead_after_seconds=2,
        )

    # -- processes
    def cli(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobgraph", *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
        )

    def start(self, name: str, *args: str, **env: str) -> Proc:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "jobgraph", *args],
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.tmp,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def migrate(self) -> None:
        done = self.cli("migrate")
        assert done.returncode == 0, done.stdout + done.stderr

    def start_api(self, timeout: float = 30, **env: str) -> Proc:
        self.api_port = self.api_port or free_port()
        proc = self.start("api", "serve", "--port", str(self.api_port), "--log-level", "warning", **env)
        wait_until(lambda: self._healthy(proc), timeout, f"the API to answer /healthz\n{proc.output()}", poll=0.1)
        return proc

    def _healthy(self, proc: Proc) -> bool:
        if not proc.alive():
            raise AssertionError(f"the API exited with {proc.popen.returncode}:\n{proc.output()}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, *args: str, timeout: float = 30, wait: bool = True, **env: str) -> Proc:
        proc = self.start("worker", "worker", "--log-level", "warning", *args, **env)
        if wait:
            self.wait_worker_registered(proc, timeout)
        return proc

    def wait_worker_registered(self, proc: Proc, timeout: float = 30) -> None:
        def registered() -> bool:
            if not proc.alive():
                raise AssertionError(f"the worker exited with {proc.popen.returncode}:\n{proc.output()}")
            with self.rt.db.session() as s:
                return (
                    s.scalars(select(Worker).where(Worker.pid == proc.pid, Worker.stopped_at.is_(None))).first()
                    is not None
                )  # type: ignore[union-attr]

        wait_until(registered, timeout, f"worker {proc.pid} to register", poll=0.1)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.kill_group()
        if self._http is not None:
            self._http.close()
        if self._rt is not None:
            self._rt.close()

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} {p.pid} ({p.log.name})\n{p.output()[-6000:]}" for p in self.procs)

    def use_redis(self, url: str) -> None:
        """Point this cluster (processes started from now on, and the test's runtime) elsewhere."""
        if self._rt is not None:
            self._rt.close()
            self._rt = None
        self.redis_url = url

    # -- the test's own view of the database and the events
    @property
    def rt(self) -> Runtime:
        if self._rt is None:
            from jobgraph.tasks.broker import BrokerDispatcher, make_broker

            settings = self.settings()
            self._rt = build_runtime(settings, dispatcher=BrokerDispatcher(make_broker(settings)))
        return self._rt

    def register_recorder(
        self, plugin_id: str = "test.record", *, isolation: str = "thread", attempts: int = 1
    ) -> None:
        spec = plugins.PluginSpec(
            plugin_id=plugin_id, kind="python", entrypoint=recorder.ENTRYPOINT, isolation=isolation, attempts=attempts
        )
        unit_call(self.rt, plugins.register_plugin, None, spec)

    def create_jobs(self, plugin_id: str, inputs: Iterable[Any], **fields: Any) -> list[str]:
        """Create jobs from this process (as another API process would): committed, then woken."""
        viewer = unit_call(self.rt, users.viewer_for_email, ADMIN_EMAIL)
        specs = [job_cases.JobSpec(plugin_id=plugin_id, input=i, **fields) for i in inputs]
        created: list[str] = []
        for start in range(0, len(specs), 500):
            created += [j.job_id for j in unit_call(self.rt, job_cases.create_jobs, viewer, specs[start : start + 500])]
        return created

    def jobs(self, job_ids: Iterable[str] | None = None) -> dict[str, Job]:
        with self.rt.db.session() as s:
            stmt = select(Job)
            if job_ids is not None:
                stmt = stmt.where(Job.job_id.in_(list(job_ids)))  # type: ignore[attr-defined]
            return {j.job_id: j for j in s.scalars(stmt)}

    def counts(self) -> dict[str, int]:
        with self.rt.db.session() as s:
            return {str(k): int(v) for k, v in s.execute(select(Job.status, func.count()).group_by(Job.status))}

    def wait_all_ended(self, job_ids: list[str], timeout: float) -> dict[str, Job]:
        wanted = set(job_ids)

        def done() -> bool:
            with self.rt.db.session() as s:
                left = s.scalar(
                    select(func.count()).where(Job.job_id.in_(wanted), Job.status.not_in(ENDED))  # type: ignore[attr-defined]
                )
            return left == 0

        try:
            wait_until(done, timeout, f"{len(wanted)} jobs to end", self.rt, lambda e: e.status in ENDED)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; now {self.counts()}\n{self.logs()}") from None
        return self.jobs(job_ids)

    # -- the API
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
            )
        return self._http

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body
        return body["data"]  # type: ignore[no-any-return]

    def gql_create_jobs(self, plugin_id: str, inputs: list[Any]) -> list[str]:
        data = self.gql(
            "mutation($i: [CreateJobInput!]!) { createJobs(inputs: $i) { jobId } }",
            {"i": [{"pluginId": plugin_id, "input": i} for i in inputs]},
        )
        return [j["jobId"] for j in data["createJobs"]]
