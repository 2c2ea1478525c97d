"""The `jobgraph` command."""

from __future__ import annotations

from typing import Annotated

import typer

from jobgraph.cli import control, local, remote
from jobgraph.cli.run import serve, worker

app = typer.Typer(
    help="jobgraph: a plugin job queue service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: rendering it with rich would cost `--help` 0.25 s of imports
)
app.command(help="Start the API (on the embedded default, with workers in the same process).")(serve)
app.command(help="Start worker processes (production: needs JOBGRAPH_REDIS_URL).")(worker)
app.command(help="Bring the database schema up to date.")(local.migrate)
app.add_typer(local.user_app, name="user")
app.add_typer(local.token_app, name="token")
app.add_typer(local.plugin_app, name="plugin")
app.add_typer(remote.job_app, name="job")
app.add_typer(control.queue_app, name="queue")
remote.job_app.command("bulk")(control.bulk)
remote.job_app.command("rerun")(control.rerun)


@app.command()
def schema(output: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file.")] = None) -> None:
    """Print the GraphQL schema (SDL)."""
    from jobgraph.schema import build_schema

    sdl = str(build_schema()) + "\n"
    if output:
        with open(output, "w") as f:
            f.write(sdl)
    else:
        typer.echo(sdl, nl=False)
