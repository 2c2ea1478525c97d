"""Execution of plain attribute fields without graphql-core's per-field machinery.

A page of 100 nested jobs is about 3,000 fields, and most are plain attributes (a job's status,
a message's text): Strawberry marks them "basic" (no resolver, no extension). graphql-core still
builds a resolve info, wraps the attribute read in Strawberry's resolver and walks the generic
completion for each. Here a basic field whose value completes without trouble is read and
coerced directly; anything else (a resolver, a null where none may be, a coercion that fails, an
abstract type, a directive on a list) goes through graphql-core's own `execute_field`, so its
answer and its error are exactly the standard ones. A test runs documents both ways and compares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar, cast

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path, gather_with_cancel, is_iterable
from graphql.type import is_leaf_type, is_non_null_type, is_object_type
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_int, serialize_string
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info


class _Plan(NamedTuple):
    """How to read one field: a basic field's attribute, or a plain resolver to call; and its
    type's completion."""

    attr: str
    resolver: _Resolver | None  # a synchronous resolver of no arguments (self and info at most)
    leaf: GraphQLLeafType | None  # a nullable or non-null leaf: read and coerce inline
    non_null: bool
    return_type: GraphQLOutputType  # anything else: completed by `_complete`
    where: str  # "Type.field", for the standard message on a null in a non-null field
    parent_type: GraphQLObjectType
    passthrough: type | None  # values of exactly this type the leaf's coercion returns unchanged


# graphql-core's coercions that return an exact str, bool or (32-bit) int unchanged.
_PASSTHROUGH: dict[Any, type] = {serialize_string: str, serialize_id: str, serialize_boolean: bool, serialize_int: int}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


C = TypeVar("C", dict[str, Any], list[Any])
_NO_PLAN = object()
# Plans depend only on the schema's types, which live as long as the schema.
_plans: dict[int, tuple[GraphQLSchema, dict[tuple[str, str], Any]]] = {}


def _plans_of(schema: GraphQLSchema) -> dict[tuple[str, str], Any]:
    held = _plans.get(id(schema))
    if held is None or held[0] is not schema:
        held = _plans[id(schema)] = (schema, {})
    return held[1]


def _fast_type(type_: GraphQLOutputType) -> bool:
    """Types `_complete` handles: leaves, object types without `is_type_of`, lists and non-nulls
    of those."""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return is_leaf_type(type_) or (is_object_type(type_) and type_.is_type_of is None)  # type: ignore[union-attr]


class _Resolver(NamedTuple):
    call: Callable[..., Any]
    field_def: GraphQLField
    definition: StrawberryField
    info_class: type[Info]
    self_argument: bool
    info_name: str | None


def _plain_resolver(schema: GraphQLSchema, field_def: GraphQLField, definition: StrawberryField) -> _Resolver | None:
    """The resolver Strawberry would call, when calling it directly changes nothing: synchronous,
    no arguments, no field extension, no permission, no exception handler; it may take `self`
    and `info`."""
    resolver = definition.base_resolver
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    if resolver is None or strawberry_schema is None or definition.extensions or definition.arguments:
        return None
    if resolver.is_async or resolver.parent_parameter or resolver.root_parameter or not callable(resolver.wrapped_func):
        return None
    if getattr(field_def.resolve, "__name__", "") != "_resolver":  # Strawberry's synchronous wrapper
        return None
    if strawberry_schema.schema_converter._get_field_exception_handlers(definition):
        return None
    info = resolver.info_parameter
    return _Resolver(
        resolver.wrapped_func,
        field_def,
        definition,
        strawberry_schema.config.info_class,
        resolver.self_parameter is not None,
        info.name if info is not None else None,
    )


def _plan(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> _Plan | None:
    field_def = parent_type.fields.get(field_name)
    definition = (
        None if field_def is None else (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    )
    if field_def is None or not isinstance(definition, StrawberryField) or not _fast_type(field_def.type):
        return None
    resolver = None
    if not getattr(field_def.resolve, "_is_default", False):
        resolver = _plain_resolver(schema, field_def, definition)
        if resolver is None:
            return None
    elif definition.default_resolver is not getattr:
        return None
    type_ = field_def.type
    non_null = is_non_null_type(type_)
    inner = type_.of_type if non_null else type_  # type: ignore[union-attr]
    leaf = inner if is_leaf_type(inner) and resolver is None else None
    return _Plan(
        definition.python_name,
        resolver,
        leaf,
        non_null,
        type_,
        f"{parent_type.name}.{field_name}",
        parent_type,
        _PASSTHROUGH.get(getattr(leaf, "coerce_output_value", None)),
    )


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans = _plans_of(self.schema)

    def execute_fields(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        if (
            self.middleware_manager is not None and self.middleware_manager.middlewares
        ):  # a resolve hook sees every field
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        plans = self._plans
        type_name = parent_type.name
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = plans.get((type_name, field_details_list[0].node.name.value), _NO_PLAN)
                if plan is _NO_PLAN:
                    plan = plans[(type_name, field_details_list[0].node.name.value)] = _plan(
                        self.schema, parent_type, field_details_list[0].node.name.value
                    )
                if plan is not None:
                    if plan.leaf is not None:
                        value = _read_leaf(plan, source_value)
                        if value is not _SLOW:
                            results[response_name] = value
                            continue
                    elif not _has_directives(field_details_list):
                        results[response_name] = result = self._execute_basic(
                            plan,
                            source_value,
                            field_details_list,
                            Path(path, response_name, type_name),
                            position_context,
                        )
                        if is_awaitable(result):
                            awaitable_fields.append(response_name)
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, type_name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            self._settle(results, awaitable_fields)
            raise
        return self._gather(results, awaitable_fields) if awaitable_fields else results

    def _execute_basic(
        self, plan: _Plan, source: Any, fields: FieldDetailsList, path: Path, position_context: Any
    ) -> Any:
        """graphql-core's `execute_field` for a basic field of object or list type, or a plain
        resolver: the same read or call, without the resolve info (for a basic field) and
        Strawberry's resolver wrapper; the same completion and error handling."""
        resolver, raw_info = plan.resolver, None
        try:
            if resolver is None:
                result = getattr(source, plan.attr)
                if self.is_awaitable(result) or _holds_awaitables(result, self.is_awaitable):
                    # graphql-core awaits those (no type here holds one): let it answer
                    return self.execute_field(plan.parent_type, source, fields, path, position_context)
            else:
                raw_info = self.build_resolve_info(resolver.field_def, to_nodes(fields), plan.parent_type, path)
                kwargs = {}
                if resolver.info_name is not None:
                    kwargs[resolver.info_name] = resolver.info_class(_raw_info=raw_info, _field=resolver.definition)
                result = resolver.call(source, **kwargs) if resolver.self_argument else resolver.call(**kwargs)
                if self.is_awaitable(result):
                    return self.complete_awaitable_value(
                        plan.return_type, fields, raw_info, path, result, position_context
                    )
            if raw_info is not None and _holds_awaitables(result, self.is_awaitable):
                completed = self.complete_value(plan.return_type, fields, raw_info, path, result, position_context)
            else:
                completed = self._complete(plan.return_type, fields, path, result, plan.where, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, plan.return_type, fields, path)
            return None
        if self.is_awaitable(completed):
            return self._await_field(completed, plan.return_type, fields, path)
        return completed

    def _settle(self, container: Any, keys: list[Any]) -> None:
        """Awaitables started before an error: settled in the background, as graphql-core does."""
        if keys:
            self.settle_in_background([container[key] for key in keys])

    async def _gather(self, container: C, keys: list[Any]) -> C:
        """The fields (a dict) or items (a list) at `keys`, awaited together."""
        awaited = await gather_with_cancel(*(container[key] for key in keys))  # type: ignore[index]
        for key, value in zip(keys, awaited, strict=True):
            container[key] = value  # type: ignore[index]
        return container

    async def _await_field(
        self, completed: Any, return_type: GraphQLOutputType, fields: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, fields, path)
            return None

    def _complete(
        self,
        return_type: GraphQLOutputType,
        fields: FieldDetailsList,
        path: Path,
        result: Any,
        where: str,
        position_context: Any,
    ) -> Any:
        """graphql-core's `complete_value` for the types `_fast_type` admits."""
        if isinstance(result, Exception):
            raise result
        if isinstance(return_type, GraphQLNonNull):
            completed = self._complete(return_type.of_type, fields, path, result, where, position_context)
            if completed is None:
                raise TypeError(f"Cannot return null for non-nullable field {where}.")
            return completed
        if result is None or result is Undefined:
            return None
        if isinstance(return_type, GraphQLList):
            if not is_iterable(result):
                raise GraphQLError(f"Expected Iterable, but did not find one for field '{where}'.")
            return self._complete_items(return_type.of_type, fields, path, result, where, position_context)
        if is_leaf_type(return_type):
            return self.complete_leaf_value(return_type, result)  # type: ignore[arg-type]
        return self.collect_and_execute_subfields(return_type, fields, path, result, position_context)  # type: ignore[arg-type]

    def _complete_items(
        self,
        item_type: GraphQLOutputType,
        fields: FieldDetailsList,
        path: Path,
        items: Iterable[Any],
        where: str,
        position_context: Any,
    ) -> Any:
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        is_awaitable = self.is_awaitable
        try:
            for index, item in enumerate(items):
                item_path = Path(path, index, None)
                try:
                    value = self._complete(item_type, fields, item_path, item, where, position_context)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, fields, item_path)
                    value = None
                if is_awaitable(value):
                    value = self._await_field(value, item_type, fields, item_path)
                    awaitable_indices.append(index)
                completed.append(value)
        except Exception:  # a null where none may be: settle what earlier items started
            self._settle(completed, awaitable_indices)
            raise
        return self._gather(completed, awaitable_indices) if awaitable_indices else completed


_SLOW = object()


def _read_leaf(plan: _Plan, source: Any) -> Any:
    """The coerced value of a basic leaf field, or `_SLOW` when graphql-core must answer (a null
    where none may be, a failing coercion, an error value): it reads the attribute again and
    reports the error in its standard shape."""
    try:
        value = getattr(source, plan.attr)
    except Exception:
        return _SLOW
    if value is None:
        return _SLOW if plan.non_null else None
    passthrough = plan.passthrough
    if type(value) is passthrough and (passthrough is not int or _INT_MIN <= cast(int, value) <= _INT_MAX):
        return value
    if isinstance(value, Exception):
        return _SLOW
    try:
        coerced = plan.leaf.coerce_output_value(value)  # type: ignore[union-attr]
    except Exception:
        return _SLOW
    if coerced is None or coerced is Undefined:
        return _SLOW
    return coerced


def _holds_awaitables(result: Any, is_awaitable: Any) -> bool:
    return isinstance(result, list | tuple) and any(is_awaitable(item) for item in result)


def _has_directives(fields: FieldDetailsList) -> bool:
    """A directive on a list field may be `@stream`: graphql-core handles those."""
    return any(details.node.directives for details in fields)


__all__ = ["FastExecutionContext"]
