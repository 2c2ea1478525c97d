"""The plugin's manifest: what jobgraph registers. The `jobgraph.plugins` entry point in
pyproject.toml names PLUGIN; its keys are those of a plugin.json (see jobgraph's README)."""

from __future__ import annotations

from typing import Any

PLUGIN: dict[str, Any] = {
    "pluginId": "example.word-count",
    "name": "word-count",
    "version": "1.0.0",
    "description": "Counts the words of input.texts; writes words.csv; returns the most frequent.",
    "kind": "python",
    "entrypoint": "jobgraph_example_plugin.plugin:word_count",
    # Jobs whose input does not match are refused when they are submitted.
    "inputSchema": {
        "type": "object",
        "properties": {
            "texts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "top": {"type": "integer", "minimum": 1, "maximum": 100},
        },
        "required": ["texts"],
        "additionalProperties": False,
    },
    "timeout": 300,
    "attempts": 2,
}
