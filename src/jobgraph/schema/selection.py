"""Which nested job fields a query asks for, so they can be read with their page at once."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from jobgraph.resolvers.loaders import PREFETCHABLE


def _fields(selections: Iterable[Selection]) -> list[SelectedField]:
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, SelectedField):
            found.append(selection)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.extend(_fields(selection.selections))
    return found


def selected(info: strawberry.Info) -> frozenset[str]:
    """The names of the fields selected directly on the current field's value (through fragments)."""
    return frozenset(child.name for field in _fields(info.selected_fields) for child in _fields(field.selections))


def wanted_nested(info: strawberry.Info, path: tuple[str, ...] = ()) -> frozenset[str]:
    """The prefetchable fields selected on the jobs at `path` below the current field."""
    current = [child for field in _fields(info.selected_fields) for child in _fields(field.selections)]
    for name in path:
        current = [child for field in current if field.name == name for child in _fields(field.selections)]
    return frozenset(field.name for field in current) & PREFETCHABLE
