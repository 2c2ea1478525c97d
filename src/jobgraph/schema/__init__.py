"""The GraphQL schema: Strawberry types, queries, mutations, subscriptions. Thin: it parses
arguments, calls `jobgraph.resolvers`, and shapes the results."""

from jobgraph.schema.build import build_schema

__all__ = ["build_schema"]
