"""Imaging series: registered once, named by jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobgraph.db.models import Series
from jobgraph.errors import BadInput, Conflict
from jobgraph.resolvers import limits, policy
from jobgraph.resolvers.viewer import Viewer
from jobgraph.unit import Unit

SERIES_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass
class SeriesSpec:
    series_uid: str
    modality: str = ""
    description: str = ""
    image_count: int = 1


def check_series_uid(uid: str) -> str:
    if not isinstance(uid, str) or len(uid) > 64 or not SERIES_UID.fullmatch(uid):
        raise BadInput(f"seriesUid {uid!r} must be digits and dots (a DICOM UID), at most 64 characters")
    return uid


def register_series(u: Unit, viewer: Viewer | None, spec: SeriesSpec) -> Series:
    policy.require_register_series(viewer)
    check_series_uid(spec.series_uid)
    if not 1 <= spec.image_count <= 1_000_000:
        raise BadInput("imageCount must be 1 to 1000000")
    limits.check_text(spec.modality, "modality", 16)
    limits.check_text(spec.description, "description", limits.MAX_DESCRIPTION)
    series = Series(
        series_uid=spec.series_uid,
        modality=spec.modality,
        description=spec.description,
        image_count=spec.image_count,
    )
    try:
        s = u.session
        s.add(series)
        s.flush()
    except IntegrityError:
        raise Conflict(f"series {spec.series_uid!r} is registered already") from None
    return series


def get_series(u: Unit, viewer: Viewer, series_uid: str) -> Series | None:
    if not isinstance(series_uid, str) or len(series_uid) > 64 or not SERIES_UID.fullmatch(series_uid):
        return None  # no series has such a uid (and a NUL in it would be an error, not an answer)
    s = u.session
    return s.get(Series, series_uid)


def list_series(u: Unit, viewer: Viewer, limit: int = 100) -> list[Series]:
    s = u.session
    return list(s.scalars(select(Series).order_by(Series.created_at.desc()).limit(limit)))  # type: ignore[attr-defined]
