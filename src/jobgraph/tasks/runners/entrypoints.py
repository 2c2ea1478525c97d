"""Resolving a python plugin's 'module:function' entrypoint."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_callable(entrypoint: str) -> Callable[..., Any]:
    module_name, _, attr = entrypoint.partition(":")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise LookupError(f"{entrypoint} is not a callable")
    return fn  # type: ignore[no-any-return]


def error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
