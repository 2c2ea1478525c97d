"""The schema object, with its limits and error masking."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from jobgraph.errors import DomainError
from jobgraph.schema.context import OperationUnit
from jobgraph.schema.executor import FastExecutionContext
from jobgraph.schema.limits import SCALAR_OVERRIDES, InputLimits, code_request_error
from jobgraph.schema.mutation import Mutation
from jobgraph.schema.query import Query
from jobgraph.schema.subscription import Subscription
from jobgraph.settings import Settings


def _mask(error: GraphQLError) -> bool:
    """Mask unexpected errors (no stack or internals leak); let domain errors through."""
    original = error.original_error
    return original is not None and not isinstance(original, DomainError | GraphQLError)


class JobgraphSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:  # every error the client gets carries a code
            code_request_error(error)
        # Domain errors are answers, not faults: log only the rest (with their tracebacks).
        unexpected = [e for e in errors if not isinstance(e.original_error, DomainError)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # The depth and alias limiters make a new rule class per instance, and the validation cache
    # is keyed by the rule classes: build them once here, so every request hits the same key.
    limits = (
        QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules
        + MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules
    )
    return JobgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Inputs are held to what the database stores: DateTime in range, text without NUL,
        # variables that coerce (BAD_USER_INPUT before any resolver runs). First, so that its
        # validation rule is in place before the validation cache is asked.
        scalar_overrides=SCALAR_OVERRIDES,
        # Plain attribute fields (most of a page) are read without graphql-core's per-field
        # machinery; everything else executes as standard (schema/executor.py).
        execution_context_class=FastExecutionContext,
        extensions=[
            InputLimits,
            # One unit of work (one transaction) per query operation, closed when it ends.
            OperationUnit,
            # Clients send the same few documents again and again: parse and validate each once.
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            lambda: AddValidationRules(limits),
            lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
            lambda: MaskErrors(should_mask_error=_mask, error_message="internal server error"),
        ],
    )
