"""Plugins used by the tests (importable by worker processes through PYTHONPATH)."""
