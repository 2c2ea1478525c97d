"""The command line: `jobgraph serve | worker | migrate | user | token | plugin | job | schema`."""

from __future__ import annotations

from jobgraph.cli.main import app


def main() -> None:
    app(prog_name="jobgraph")


if __name__ == "__main__":  # pragma: no cover
    main()
