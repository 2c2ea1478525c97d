"""Plugin runners: each runs one attempt and reports an Outcome."""

from jobgraph.tasks.runners.base import Control, Outcome

__all__ = ["Control", "Outcome"]
