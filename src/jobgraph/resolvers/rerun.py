"""Running a job again: a new job with the same plugin, input, series, queue, priority and run
level, linked to the old one (`jobs.rerun_of`). Unlike a retry, the old job keeps its record
(result, error, attempts) and the new one is the caller's.

The new job is made by `jobs.create_jobs`, so every rule of creating a job holds (the plugin
enabled, the input valid against its schema now, the series registered).
"""

from __future__ import annotations

from sqlalchemy import select, update

from jobgraph.db.models import Job, JobSeries
from jobgraph.resolvers import jobs, policy
from jobgraph.resolvers.jobs import JobSpec, SeriesRef
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit


def rerun_job(u: Unit, viewer: Viewer, job_ref: str | int) -> Job:
    """A new queued job like `job_ref` (any user who may see it and may run plugins)."""
    found = jobs.get_job_by_number(u, viewer, job_ref) if isinstance(job_ref, int) else jobs.get_job(u, viewer, job_ref)
    old = policy.require_rerun_job(viewer, found, job_ref)
    assert old.number is not None
    s = u.session
    series = s.scalars(select(JobSeries).where(JobSeries.job_number == old.number).order_by(JobSeries.position))  # type: ignore[arg-type]
    spec = JobSpec(
        plugin_id=old.plugin_id,
        input=old.input,
        series=[SeriesRef(r.series_uid, r.start, r.end, r.delta) for r in series],
        priority=old.priority,
        queue=old.queue,
        run_level=old.run_level,
    )
    (new,) = jobs.create_jobs(u, viewer, [spec])
    s.execute(update(Job).where(Job.number == new.number).values(rerun_of=old.number))  # type: ignore[arg-type]
    # The created job is a read-only snapshot (jobs._insert_jobs): the linked one likewise.
    return Job.model_construct(**{**{name: getattr(new, name) for name in Job.model_fields}, "rerun_of": old.number})
