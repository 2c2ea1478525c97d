"""Built-in plugins, registered by `jobgraph serve` on the embedded default."""
