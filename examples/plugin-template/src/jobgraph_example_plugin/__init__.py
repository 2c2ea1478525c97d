"""An example jobgraph plugin, packaged: `word_count` (the code) and `PLUGIN` (its manifest)."""

from jobgraph_example_plugin.manifest import PLUGIN
from jobgraph_example_plugin.plugin import word_count

__all__ = ["PLUGIN", "word_count"]
