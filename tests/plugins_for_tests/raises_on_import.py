"""A plugin module whose import fails (registration must say why)."""

raise RuntimeError("needs a GPU")
