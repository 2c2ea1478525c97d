"""Plugins: the built-in ones (builtin), resolving and checking a python plugin's entrypoint
(entrypoints), and the plugins of installed packages (installed: the `jobgraph.plugins` entry points)."""
