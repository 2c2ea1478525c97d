"""jobgraph: a plugin job queue service."""

__version__ = "0.1.0"
