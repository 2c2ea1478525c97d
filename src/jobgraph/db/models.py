"""The tables: one job model that every view (GraphQL, REST, CLI) reads and writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from jobgraph.clock import utcnow
from jobgraph.db.types import JSONValue, UTCDateTime
from jobgraph.ids import new_id


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any = None) -> Any:
    if callable(default):
        return Field(default_factory=default, sa_column=Column(JSONValue, nullable=True))
    return Field(default=default, sa_column=Column(JSONValue, nullable=True))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    privileges: list[str] = _json(list)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(default="", max_length=200)
    # sha256 of the secret: tokens are 256-bit random, so a fast hash is enough and lookups stay O(1)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = _time()
    revoked_at: datetime | None = _time()
    last_used_at: datetime | None = _time()
    # A derived token (an OAuth2 access token) is made from an API token, its parent: it is valid
    # only while the parent is, never outlives it, and cannot make further tokens.
    parent_id: str | None = Field(
        default=None,
        sa_column=Column(String(26), ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=True, index=True),
    )


class Plugin(SQLModel, table=True):
    __tablename__ = "plugins"

    plugin_id: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=200, index=True)
    version: str = Field(default="", max_length=64)
    description: str = Field(default="")
    kind: str = Field(max_length=16)  # python | command | docker
    entrypoint: Any = _json()  # "module:function" | ["argv", ...] | "image:tag"
    input_schema: dict[str, Any] | None = _json()
    feedback_schema: dict[str, Any] | None = _json()
    timeout: int = Field(default=0)
    attempts: int = Field(default=1)
    queue: str = Field(default="default", max_length=100)
    isolation: str = Field(default="process", max_length=16)  # process | thread (python only)
    env: dict[str, str] = _json(dict)  # variables declared at registration, given to its runs
    enabled: bool = Field(default=True)
    icon: Any = _json()
    display_strategy: Any = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Series(SQLModel, table=True):
    __tablename__ = "series"

    series_uid: str = Field(primary_key=True, max_length=64)
    modality: str = Field(default="", max_length=16)
    description: str = Field(default="")
    image_count: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Worker(SQLModel, table=True):
    __tablename__ = "workers"

    id: int | None = Field(default=None, primary_key=True)
    host: str = Field(max_length=255)
    pid: int
    queues: list[str] = _json(list)
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    stopped_at: datetime | None = _time()


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        # Scheduled jobs by the time they become due (the upkeep promotes them).
        Index(
            "ix_jobs_scheduled",
            "run_at",
            postgresql_where=text("status = 'queued' AND hold = 'scheduled'"),
            sqlite_where=text("status = 'queued' AND hold = 'scheduled'"),
        ),
        # Jobs waiting for parents (the sweep re-settles any whose settling was lost).
        Index(
            "ix_jobs_waiting_parents",
            "number",
            postgresql_where=text("status = 'queued' AND hold = 'parents'"),
            sqlite_where=text("status = 'queued' AND hold = 'parents'"),
        ),
        # Queued jobs that may expire (the upkeep fails them).
        Index(
            "ix_jobs_expires",
            "expires",
            postgresql_where=text("status = 'queued' AND expires IS NOT NULL"),
            sqlite_where=text("status = 'queued' AND expires IS NOT NULL"),
        ),
        # Lists: each filter's jobs in number order (NEWEST and OLDEST read them in index order,
        # a page is a few entries, a deep offset an index-only scan), and their capped counts.
        # (PostgreSQL: with failure_kind, so tastypie's "Error" and "Timed Out" are index-only too.)
        Index("ix_jobs_status_number", "status", "number", postgresql_include=["failure_kind"]),
        Index("ix_jobs_plugin_number", "plugin_id", "number"),
        Index("ix_jobs_user_number", "user_id", "number"),  # also what a user who sees only their jobs reads
        Index("ix_jobs_status_plugin_number", "status", "plugin_id", "number"),
        # queueStats' queued and running jobs per queue (index-only), a status and queue filter.
        Index("ix_jobs_status_queue", "status", "queue", "number"),
        # Retention: old ended jobs, oldest first.
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_worker_status", "worker_id", "status"),
    )

    number: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(default_factory=new_id, sa_column=Column(String(26), unique=True, nullable=False))
    plugin_id: str = Field(sa_column=Column(String(128), ForeignKey("plugins.plugin_id"), nullable=False))
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id"), nullable=False))
    status: str = Field(default="queued", max_length=16)
    priority: int = Field(default=0)
    queue: str = Field(default="default", max_length=100)
    input: Any = _json()
    attempts: int = Field(default=1)
    retries: int = Field(default=0)
    retried_at: datetime | None = _time()
    run_at: datetime | None = _time()
    expires: datetime | None = _time()
    lax: bool = Field(default=False)
    notes: dict[str, Any] = _json(dict)
    result: Any = _json()
    error_message: str | None = Field(default=None)
    # why the last attempt failed: exception | timeout | crash | interrupted | expired | parent
    failure_kind: str | None = Field(default=None, max_length=16)
    cancel_requested: bool = Field(default=False)
    # Why a queued job may not be claimed yet: "scheduled" (runAt is in the future) or
    # "parents" (a parent has not ended); None when it is ready. Kept off every other status.
    hold: str | None = Field(default=None, max_length=16)
    worker_id: int | None = Field(default=None)
    run_level: str = Field(default="default", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = _time()
    finished_at: datetime | None = _time()
    # The job this one runs again (same plugin, input, series, queue, priority): `rerunJob`.
    rerun_of: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="SET NULL"), nullable=True, index=True),
    )


class JobSeries(SQLModel, table=True):
    __tablename__ = "job_series"

    job_number: int = Field(sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="CASCADE"), primary_key=True))
    position: int = Field(primary_key=True)
    series_uid: str = Field(sa_column=Column(String(64), ForeignKey("series.series_uid"), nullable=False, index=True))
    start: int | None = None
    end: int | None = None
    delta: int | None = None


class JobDependency(SQLModel, table=True):
    __tablename__ = "job_dependencies"

    child_number: int = Field(
        sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="CASCADE"), primary_key=True)
    )
    parent_number: int = Field(
        sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="CASCADE"), primary_key=True, index=True)
    )


class Message(SQLModel, table=True):
    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    job_number: int = Field(
        sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="CASCADE"), nullable=False, index=True)
    )
    status: int = Field(default=1)  # 1 info, 2 warning, 3 error
    text: str
    tool_id: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Output(SQLModel, table=True):
    __tablename__ = "outputs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_number: int = Field(
        sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="CASCADE"), nullable=False, index=True)
    )
    file_name: str = Field(max_length=1024)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))  # files of 2 GiB and more
    content_type: str = Field(default="application/octet-stream", max_length=255)
    available_formats: list[str] = _json(list)
    path: str = Field(max_length=2048)  # relative to the outputs folder
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Feedback(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("job_number", "user_id", "is_consensual", name="uq_feedback_job_user_kind"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_number: int = Field(
        sa_column=Column(Integer, ForeignKey("jobs.number", ondelete="CASCADE"), nullable=False, index=True)
    )
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id"), nullable=False))
    is_consensual: bool = False
    data: Any = _json()
    action_log: list[Any] = _json(list)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class PausedQueue(SQLModel, table=True):
    """A queue whose jobs workers do not claim (running jobs go on) until it is resumed."""

    __tablename__ = "paused_queues"

    queue: str = Field(primary_key=True, max_length=100)
    paused_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    paused_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )


class AuditEntry(SQLModel, table=True):
    """Who did what to how many jobs: bulk actions, pausing and resuming queues."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    )
    action: str = Field(max_length=32)
    filter: Any = _json()  # the JobFilter (bulk actions) or {"queue": name}, as JSON
    count: int = Field(default=0)  # how many jobs it changed
    job_numbers: list[int] = _json(list)  # those jobs (at most audit.MAX_NUMBERS: a sample beyond)
    details: dict[str, Any] = _json(dict)  # e.g. the priority set, the limit, how many were skipped


JOB_STATUSES = ("queued", "running", "finished", "failed", "cancelled", "invalidated")
ENDED_STATUSES = frozenset({"finished", "failed", "cancelled", "invalidated"})


def only_on(dialect: str, index: Index) -> Index:
    """An index that only `dialect` has (SQLite has no GIN): create_all makes it only there, and
    comparing the models with a database of another dialect leaves it out (migrate.include_object)."""
    index.info["only_on"] = dialect
    return index.ddl_if(dialect=dialect)


# The claim: ready jobs of one queue in dispatch order (priority high first, then oldest).
# Partial, so a claim is a range scan of ready jobs however many others are stored, and
# scheduled or blocked jobs (hold is set) are not in it at all.
_jobs = Job.__table__  # type: ignore[attr-defined]
Index(
    "ix_jobs_claim",
    _jobs.c.queue,
    _jobs.c.priority.desc(),
    _jobs.c.number,
    postgresql_where=text("status = 'queued' AND hold IS NULL"),
    sqlite_where=text("status = 'queued' AND hold IS NULL"),
)
# The queued (or running) jobs of every queue in dispatch order: CIRCUS's `state=wait` pages.
# PostgreSQL only: SQLite's planner, without statistics, would take it for the claim instead of
# ix_jobs_claim (a scan of every queue's queued jobs).
only_on("postgresql", Index("ix_jobs_status_dispatch", _jobs.c.status, _jobs.c.priority.desc(), _jobs.c.number))
# JSON containment (`input @> value`, the JobFilter's search of the input) on PostgreSQL:
# jsonb_path_ops indexes each path to a value, the smallest GIN that serves @>.
only_on(
    "postgresql",
    Index("ix_jobs_input", _jobs.c.input, postgresql_using="gin", postgresql_ops={"input": "jsonb_path_ops"}),
)
