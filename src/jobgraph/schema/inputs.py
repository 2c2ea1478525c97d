"""Input types, and their translation to the use cases' specs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from jobgraph.resolvers import job_list
from jobgraph.resolvers.feedback import FeedbackSpec
from jobgraph.resolvers.jobs import JobSpec, SeriesRef
from jobgraph.resolvers.plugins import PluginSpec
from jobgraph.resolvers.series import SeriesSpec
from jobgraph.resolvers.validation import check_json_value
from jobgraph.schema.types import JobStatus, PluginKind


@strawberry.input
class PartialVolumeInput:
    start: int
    end: int
    delta: int = 1


@strawberry.input
class JobSeriesInput:
    series_uid: str
    partial_volume_descriptor: PartialVolumeInput | None = None


@strawberry.input(description="A job to create. Unset fields take the plugin's defaults.")
class CreateJobInput:
    plugin_id: strawberry.ID
    input: JSON | None = None
    series: list[JobSeriesInput] | None = None
    priority: int = 0
    queue: str | None = None
    attempts: int | None = None
    run_at: datetime | None = None
    expires: datetime | None = None
    parents: list[strawberry.ID] | None = strawberry.field(default=None, description="jobIds it waits for.")
    lax: bool = False
    notes: JSON | None = None
    run_level: str = "default"
    unique: bool = strawberry.field(
        default=False,
        description=(
            "Refuse the job (CONFLICT) when the same plugin already has a queued, running or finished job on "
            "the same series, in the same order with the same partial volumes: CIRCUS's duplicate guard "
            "(its POST /api/plugin-jobs applies it unless `force`). A job without series is never a duplicate."
        ),
    )

    def to_spec(self) -> JobSpec:
        return JobSpec(
            plugin_id=str(self.plugin_id),
            input=self.input,
            series=[
                SeriesRef(
                    series_uid=s.series_uid,
                    start=s.partial_volume_descriptor.start if s.partial_volume_descriptor else None,
                    end=s.partial_volume_descriptor.end if s.partial_volume_descriptor else None,
                    delta=s.partial_volume_descriptor.delta if s.partial_volume_descriptor else None,
                )
                for s in self.series or []
            ],
            priority=self.priority,
            queue=self.queue,
            attempts=self.attempts,
            run_at=self.run_at,
            expires=self.expires,
            parents=[str(p) for p in self.parents or []],
            lax=self.lax,
            notes=self.notes,  # type: ignore[arg-type]
            run_level=self.run_level,
            unique=self.unique,
        )


@strawberry.input(description="A plugin to register; an existing pluginId is updated.")
class PluginInput:
    plugin_id: strawberry.ID
    kind: PluginKind
    entrypoint: JSON = strawberry.field(description="python: 'module:function'; command: argv; docker: image.")
    name: str | None = None
    version: str = ""
    description: str = ""
    input_schema: JSON | None = None
    feedback_schema: JSON | None = None
    timeout: int = 0
    attempts: int = 1
    queue: str = "default"
    isolation: str = "process"
    enabled: bool = True
    icon: JSON | None = None
    display_strategy: JSON | None = None
    env: JSON | None = strawberry.field(
        default=None,
        description="Variables the plugin's runs get (name to string), beside PATH, HOME, LANG and the like. "
        "Readable back only by name.",
    )

    def to_spec(self) -> PluginSpec:
        return PluginSpec(
            plugin_id=str(self.plugin_id),
            kind=self.kind.value,
            entrypoint=self.entrypoint,
            name=self.name,
            version=self.version,
            description=self.description,
            input_schema=cast(dict[str, Any] | None, self.input_schema),
            feedback_schema=cast(dict[str, Any] | None, self.feedback_schema),
            timeout=self.timeout,
            attempts=self.attempts,
            queue=self.queue,
            isolation=self.isolation,
            enabled=self.enabled,
            icon=self.icon,
            display_strategy=self.display_strategy,
            env=cast(dict[str, str] | None, self.env),
        )


@strawberry.input
class SeriesInput:
    series_uid: str
    modality: str = ""
    description: str = ""
    image_count: int = 1

    def to_spec(self) -> SeriesSpec:
        return SeriesSpec(
            series_uid=self.series_uid,
            modality=self.modality,
            description=self.description,
            image_count=self.image_count,
        )


@strawberry.input
class FeedbackInput:
    is_consensual: bool = False
    data: JSON | None = None
    action_log: JSON | None = None

    def to_spec(self) -> FeedbackSpec:
        return FeedbackSpec(
            is_consensual=self.is_consensual,
            data=self.data,
            action_log=[] if self.action_log is None else cast(list[Any], self.action_log),
        )


def _json_filter(value: Any, what: str) -> Any:
    return None if value is None else check_json_value(value, f"the {what} filter")


@strawberry.input(description="Every field narrows the list; lists match any of their values.")
class JobFilter:
    status: list[JobStatus] | None = None
    plugin_id: list[strawberry.ID] | None = None
    user_email: list[str] | None = None
    queue: list[str] | None = None
    series_uid: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    finished_after: datetime | None = None
    finished_before: datetime | None = None
    error_contains: str | None = strawberry.field(default=None, description="Text in the error message.")
    input_contains: JSON | None = strawberry.field(
        default=None,
        description="JSON the job's input contains, as PostgreSQL's `@>` says: "
        '`{"case": 7}` finds inputs with case 7 among their keys; arrays match in any order.',
    )
    notes_contains: JSON | None = strawberry.field(
        default=None, description="JSON the job's notes contain (as inputContains)."
    )

    def to_filter(self) -> job_list.JobFilter:
        return job_list.JobFilter(
            statuses=[s.value for s in self.status] if self.status else None,
            plugin_ids=[str(p) for p in self.plugin_id] if self.plugin_id else None,
            user_emails=self.user_email or None,
            queues=self.queue or None,
            series_uid=self.series_uid,
            created_after=self.created_after,
            created_before=self.created_before,
            updated_after=self.updated_after,
            finished_after=self.finished_after,
            finished_before=self.finished_before,
            error_contains=self.error_contains,
            input_contains=_json_filter(self.input_contains, "inputContains"),
            notes_contains=_json_filter(self.notes_contains, "notesContains"),
        )


@strawberry.enum(description="Orderings of job lists.")
class JobOrder(Enum):
    NEWEST = "NEWEST"
    OLDEST = "OLDEST"
    DISPATCH = "DISPATCH"
    RECENTLY_UPDATED = "RECENTLY_UPDATED"
