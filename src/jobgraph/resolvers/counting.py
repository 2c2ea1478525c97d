"""How many jobs match: the one counting strategy of every list (GraphQL's `totalCount`, CIRCUS's
`X-Total-Count`, tastypie's `meta.total_count`) and of `queueStats`' counts by status.

Counting a million rows exactly reads a million index entries (hundreds of milliseconds on
PostgreSQL), however few of them a page shows. So, as Oban's Met does: exact up to a threshold
(`JOBGRAPH_EXACT_COUNT_LIMIT`, 10,000 by default), by counting over a LIMIT'd subquery, which
stops after threshold + 1 rows; above it, PostgreSQL's planner estimate for the same WHERE
(EXPLAIN's row estimate, from the table's statistics: no row is read), flagged as an estimate and
never below threshold + 1. SQLite counts exactly, always.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, literal_column, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import CompoundSelect, Select

from jobgraph.db.models import Job

K = TypeVar("K")


@dataclass(frozen=True)
class Total:
    count: int
    estimated: bool = False  # the planner's estimate, above the exact limit (PostgreSQL only)


class _Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>`, the statement's parameters bound as usual."""

    inherit_cache = False

    def __init__(self, statement: Select[Any] | CompoundSelect[Any]) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


Where = Sequence[ColumnElement[bool]]


def _matching(where: Where) -> Select[Any]:
    return select(literal_column("1")).select_from(Job).where(*where)


def _capped(where: Where, limit: int) -> Any:
    """How many rows match, counting no further than limit + 1."""
    return select(func.count()).select_from(_matching(where).limit(limit + 1).subquery()).scalar_subquery()


def _plan_rows(s: Session, statement: Select[Any] | CompoundSelect[Any]) -> dict[str, Any]:
    plan = s.execute(_Explain(statement)).scalar()
    return plan[0]["Plan"]  # type: ignore[index,no-any-return]


def planner_estimates(s: Session, wheres: Sequence[Where]) -> list[int]:
    """PostgreSQL's estimates of the rows of `SELECT 1 FROM jobs WHERE <where>` for each, in one
    EXPLAIN (of their UNION ALL: an Append node, one child per arm)."""
    if len(wheres) == 1:
        return [int(_plan_rows(s, _matching(wheres[0]))["Plan Rows"])]
    plan = _plan_rows(s, union_all(*(_matching(w) for w in wheres)))
    children = plan.get("Plans", []) if plan.get("Node Type") == "Append" else []
    if len(children) != len(wheres):  # a plan shaped otherwise: one EXPLAIN each
        return [int(_plan_rows(s, _matching(w))["Plan Rows"]) for w in wheres]
    return [int(child["Plan Rows"]) for child in children]


def _is_postgresql(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _settle(s: Session, counted: Mapping[K, int], wheres: Mapping[K, Where], limit: int) -> dict[K, Total]:
    """Capped counts as totals: those above `limit` become the planner's estimates (one EXPLAIN
    for all of them), never below limit + 1."""
    over = [key for key, n in counted.items() if n > limit]
    estimates = dict(zip(over, planner_estimates(s, [wheres[k] for k in over]), strict=True)) if over else {}
    return {
        key: Total(max(estimates[key], limit + 1), estimated=True) if key in estimates else Total(n)
        for key, n in counted.items()
    }


def count_jobs(s: Session, where: Where, *, limit: int) -> Total:
    """The jobs matching `where`: exact on SQLite; on PostgreSQL exact up to `limit`, above it
    the planner's estimate."""
    if not _is_postgresql(s):
        return Total(int(s.scalar(select(func.count()).select_from(Job).where(*where)) or 0))
    counted = int(s.scalar(select(_capped(where, limit))) or 0)
    return _settle(s, {0: counted}, {0: where}, limit)[0]


def count_each(s: Session, where: Where, parts: Mapping[K, ColumnElement[bool]], *, limit: int) -> dict[K, Total]:
    """The jobs matching `where` and each part (e.g. a status), in one statement (and, on
    PostgreSQL, one EXPLAIN for the parts above `limit`)."""
    if not parts:
        return {}
    postgresql = _is_postgresql(s)
    wheres = {key: [*where, part] for key, part in parts.items()}
    columns = [
        _capped(w, limit) if postgresql else select(func.count()).select_from(Job).where(*w).scalar_subquery()
        for w in wheres.values()
    ]
    row = s.execute(select(*columns)).one()
    counted = {key: int(value or 0) for key, value in zip(wheres, row, strict=True)}
    return _settle(s, counted, wheres, limit) if postgresql else {k: Total(n) for k, n in counted.items()}


def count_by(s: Session, where: Where, column: Any, *, limit: int) -> dict[Any, Total]:
    """The jobs matching `where` per value of `column` (the values that occur). SQLite: GROUP BY.
    PostgreSQL: in one statement, the values by a loose index scan (one probe of an index that
    leads with `where`'s equalities and `column` per value, not one entry per job) and a capped
    count of each; then one EXPLAIN for those above `limit`."""
    if not _is_postgresql(s):
        rows = s.execute(select(column, func.count()).where(*where).group_by(column)).all()
        return {value: Total(int(n)) for value, n in rows}
    first = select(column).where(*where).order_by(column).limit(1).scalar_subquery()
    values = select(first.label("value")).cte("loose", recursive=True)
    following = select(column).where(*where, column > values.c.value).order_by(column).limit(1).scalar_subquery()
    values = values.union_all(select(following.label("value")).where(values.c.value.is_not(None)))
    each = _matching([*where, column == values.c.value]).limit(limit + 1).correlate(values).subquery()
    capped = select(func.count()).select_from(each).scalar_subquery()
    rows = s.execute(select(values.c.value, capped).where(values.c.value.is_not(None))).all()
    counted = {value: int(n or 0) for value, n in rows}
    return _settle(s, counted, {value: [*where, column == value] for value in counted}, limit)
