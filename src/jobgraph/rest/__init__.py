"""REST views of the one job model, one module per documented system.

Each module parses that system's requests, calls `jobgraph.resolvers`, and maps the result to
that system's field names, status names and date format; nothing else lives here.
"""
