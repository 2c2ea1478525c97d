"""Run a python plugin in a child process (the default): a cancel or a time limit always stops
it, whatever it is doing, and a crash in the plugin cannot take the worker down.

The child is a warm one from the worker's pool (pool.py): the process start and the plugin's
imports are paid once per child, not once per job.
"""

from __future__ import annotations

from jobgraph.tasks.runners import pool
from jobgraph.tasks.runners.base import Control, Outcome


def run(control: Control, entrypoint: str) -> Outcome:
    return pool.run(control, entrypoint)


def shutdown_pool() -> None:
    """Kill the worker's warm plugin processes (also done at exit)."""
    pool.shutdown()
