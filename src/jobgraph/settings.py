"""All configuration, read once from `JOBGRAPH_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBGRAPH_", extra="ignore")

    data_dir: Path = Path(".jobgraph")
    database_url: str | None = None
    redis_url: str | None = None
    # Prefix of every Redis key and of the events channel: deployments sharing a Redis differ here.
    redis_namespace: str = "jobgraph"
    host: str = "127.0.0.1"
    port: int = 8000

    admin_email: str = "admin@localhost"
    admin_token: str | None = None

    # Execution
    worker_threads: int = 4
    embedded_workers: bool | None = None  # None: start them when there is no Redis
    retry_backoff_base: float = 15.0  # backoff(retries) = retries**4 + base seconds
    retry_backoff_factor: float = 1.0  # scales the retries**4 part (tests use 0)
    cancel_poll_seconds: float = 0.5
    sweep_seconds: float = 5.0  # how often workers recover lost jobs, expire jobs, settle lost dependencies
    stale_wake_seconds: float = 5.0  # how often workers claim from their queues unasked (lost wake-ups)
    complete_interval_seconds: float = 0.02  # finished jobs are recorded in batches this often
    worker_heartbeat_seconds: float = 5.0
    worker_dead_after_seconds: float = 30.0  # a worker silent this long has gone away
    # PostgreSQL ends a session idle this long inside a transaction (a frozen process must not
    # hold row locks for ever); None: the same as worker_dead_after_seconds.
    idle_transaction_seconds: float | None = Field(default=None, gt=0)
    # An HTTP request's token is looked up again after this long (a revocation made by another
    # process is seen within it; one made here, at once). 0: on every request.
    viewer_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    stop_grace_seconds: float = 1.0  # after a cancel, how long a plugin gets before a kill
    shutdown_grace_seconds: float = 30.0  # on SIGTERM, how long running jobs get to finish
    # Ended jobs (with their messages, outputs and feedback) are removed this many days after
    # they end; None keeps them (results and feedback are what users come back for).
    retain_jobs_days: float | None = Field(default=None, gt=0)
    auto_migrate: bool | None = None  # None: only on the embedded SQLite default
    metrics_port: int | None = None  # `jobgraph worker`: serve Prometheus metrics on this port

    # API limits
    max_query_depth: int = 12
    max_query_tokens: int = 5000
    max_aliases: int = 30
    max_body_bytes: int = 2 * 1024 * 1024
    access_token_seconds: int = 3600
    # A dashboard sign-in (a session cookie holding a token derived from the API token given).
    dashboard_session_seconds: int = Field(default=8 * 3600, ge=60)
    # Totals of lists and queueStats are exact up to this many jobs; above it PostgreSQL's
    # planner estimate, flagged as one (resolvers/counting.py). SQLite counts exactly always.
    exact_count_limit: int = Field(default=10_000, ge=1)
    # Bulk actions by filter (retry, cancel, delete, set priority) act on at most this many jobs
    # at once; above it they are refused unless the caller asks for the first N (`limit`).
    bulk_limit: int = Field(default=1000, ge=1, le=100_000)
    # Subscriptions (GraphQL over WebSocket or HTTP streaming): how often a session's token is
    # authenticated again (revocation and privilege changes take effect within this; its expiry
    # ends the session at once), and how many subscriptions a connection and a user may hold open.
    session_recheck_seconds: float = 5.0
    max_subscriptions_per_connection: int = 100
    max_subscriptions_per_user: int = 500

    # LANraragi's Minion status route: "public" (as LANraragi: anyone sees a job's state, task,
    # error and notes), "limited" (anyone sees state and task; error and notes need a token that
    # may see the job) or "token" (a token is needed, and only jobs it may see are found).
    minion_status: Literal["public", "limited", "token"] = "public"
    metrics_token: bool = False  # /metrics answers only a token with manageServer

    builtin_plugins: bool = True
    # Register the plugins of installed packages (the `jobgraph.plugins` entry points) on start.
    installed_plugins: bool = True
    graphql_allowed_origins: list[str] = Field(default_factory=list)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Plugins run in their own work folders: every path handed around must be absolute.
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'jobgraph.db'}"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def run_embedded_workers(self) -> bool:
        if self.embedded_workers is not None:
            return self.embedded_workers
        return self.redis_url is None
