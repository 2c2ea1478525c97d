"""Imaging series: registered once, named by jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobgraph.db.models import Series
from jobgraph.errors import BadInput, Conflict
from jobgraph.resolvers.viewer import Privilege, Viewer
from jobgraph.runtime import Runtime

SERIES_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass
class SeriesSpec:
    series_uid: str
    modality: str = ""
    description: str = ""
    image_count: int = 1


def check_series_uid(uid: str) -> str:
    if not isinstance(uid, str) or len(uid) > 64 or not SERIES_UID.match(uid):
        raise BadInput(f"seriesUid {uid!r} must be digits and dots (a DICOM UID), at most 64 characters")
    return uid


def register_series(rt: Runtime, viewer: Viewer | None, spec: SeriesSpec) -> Series:
    if viewer is not None and not viewer.can(Privilege.EXECUTE_PLUGIN):
        viewer.require(Privilege.MANAGE_SERVER)
    check_series_uid(spec.series_uid)
    if not 1 <= spec.image_count <= 1_000_000:
        raise BadInput("imageCount must be 1 to 1000000")
    if len(spec.modality) > 16:
        raise BadInput("modality is at most 16 characters")
    series = Series(
        series_uid=spec.series_uid,
        modality=spec.modality,
        description=spec.description,
        image_count=spec.image_count,
    )
    try:
        with rt.db.session(write=True) as s:
            s.add(series)
            s.flush()
    except IntegrityError:
        raise Conflict(f"series {spec.series_uid!r} is registered already") from None
    return series


def get_series(rt: Runtime, viewer: Viewer, series_uid: str) -> Series | None:
    with rt.db.session() as s:
        return s.get(Series, series_uid)


def list_series(rt: Runtime, viewer: Viewer, limit: int = 100) -> list[Series]:
    with rt.db.session() as s:
        return list(s.scalars(select(Series).order_by(Series.created_at.desc()).limit(limit)))  # type: ignore[attr-defined]
