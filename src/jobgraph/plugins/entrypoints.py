"""A python plugin's "module:function" entrypoint: resolving it (the runners) and checking it (registration)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def load_callable(entrypoint: str) -> Callable[..., Any]:
    module_name, _, attr = entrypoint.partition(":")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise LookupError(f"{entrypoint} is not a callable")
    return fn  # type: ignore[no-any-return]


def entrypoint_problem(entrypoint: str) -> str | None:
    """Why a worker could not call `entrypoint`, or None when it can: its module imports (in this
    process, as a worker thread imports it; a module imported before is not run again) and the
    attribute is callable."""
    module_name, _, attr = entrypoint.partition(":")
    if module_name not in sys.modules:
        importlib.invalidate_caches()  # a package installed since this process started
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        return (
            f"cannot import {module_name}: no module named {missing!r} in jobgraph's environment "
            f"({sys.prefix}); install the plugin's package there (pip install ...)"
        )
    except (Exception, SystemExit) as exc:  # the plugin's own code failed while importing
        return f"cannot import {module_name}: {error_text(exc)}"
    fn = getattr(module, attr, None)
    if fn is None:
        return f"module {module_name} has no {attr!r}"
    if not callable(fn):
        return f"{entrypoint} is not callable (it is a {type(fn).__name__})"
    return None


def error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
