"""Use cases shared by every view: GraphQL, the REST systems, the CLI and the workers.

Each function takes the Unit it runs in and a Viewer, checks who may do what, and returns domain
objects or raises a `jobgraph.errors.DomainError`.
"""
