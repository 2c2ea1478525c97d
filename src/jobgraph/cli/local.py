"""Commands that act on the database directly, with the operator's authority: users, tokens,
plugins, migrations. They read the same JOBGRAPH_* settings as the service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from jobgraph.cli.errors import fail, friendly
from jobgraph.resolvers.viewer import ALL_PRIVILEGES

if TYPE_CHECKING:
    from jobgraph.db.models import Plugin
    from jobgraph.resolvers.plugins import PluginSpec
    from jobgraph.runtime import Runtime
    from jobgraph.unit import Unit

T = TypeVar("T")

# The settings and the database layers are imported by the commands that use them, not here:
# `jobgraph --help` and the job commands (which only talk HTTP) start without loading pydantic
# or SQLAlchemy (tests/cli/test_startup.py).

user_app = typer.Typer(help="Users and their privileges.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
plugin_app = typer.Typer(help="Plugins.", no_args_is_help=True)


def _runtime() -> Runtime:
    from jobgraph.runtime import build_runtime
    from jobgraph.service import prepare_database
    from jobgraph.settings import Settings

    rt = build_runtime(Settings())
    prepare_database(rt)
    return rt


def _command(fn: Callable[..., T], *args: Any, write: bool = False) -> T:
    """One command, one unit: `fn(unit, None, *args)`, the operator's own authority (None)."""
    from jobgraph.unit import in_unit

    return in_unit(_runtime(), fn, None, *args, write=write)


@friendly
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from jobgraph.db import migrate as db_migrate
    from jobgraph.runtime import build_runtime
    from jobgraph.settings import Settings

    rt = build_runtime(Settings())
    before = db_migrate.current_revision(rt.db)
    db_migrate.upgrade(rt.db)
    after = db_migrate.current_revision(rt.db)
    typer.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


Privileges = Annotated[
    list[str] | None,
    typer.Option("--privilege", "-p", help=f"Repeat for each: {', '.join(ALL_PRIVILEGES)}; or 'all'."),
]


def _privileges(values: list[str] | None) -> list[str]:
    values = values or []
    return list(ALL_PRIVILEGES) if "all" in values else values


@user_app.command("create")
@friendly
def user_create(email: str, privilege: Privileges = None) -> None:
    """Create a user."""
    from jobgraph.resolvers import users

    user = _command(users.create_user, email, _privileges(privilege), write=True)
    typer.echo(f"created {user.email} ({', '.join(user.privileges) or 'no privileges'})")


@user_app.command("set-privileges")
@friendly
def user_set_privileges(email: str, privilege: Privileges = None) -> None:
    """Replace a user's privileges."""
    from jobgraph.resolvers import users

    user = _command(users.set_privileges, email, _privileges(privilege), write=True)
    typer.echo(f"{user.email}: {', '.join(user.privileges) or 'no privileges'}")


@user_app.command("list")
@friendly
def user_list() -> None:
    """List users."""
    from jobgraph.resolvers import users

    for user in _command(users.list_users):
        typer.echo(f"{user.email}\t{','.join(user.privileges)}")


@user_app.command("remove")
@friendly
def user_remove(email: str) -> None:
    """Remove a user and delete their tokens. Refused for a user who owns jobs or gave feedback
    (delete those jobs first, or remove their privileges and revoke their tokens instead) and for
    the last user with manageServer."""
    from jobgraph.resolvers import users

    removed = _command(users.remove_user, email, write=True)
    typer.echo(f"removed {removed.email} ({removed.tokens_deleted} tokens deleted)")


@token_app.command("create")
@friendly
def token_create(
    email: str,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_days: Annotated[int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")] = None,
) -> None:
    """Make an API token for a user; it is printed once, only here."""
    from datetime import timedelta

    from jobgraph.resolvers import users

    expires_in = timedelta(days=expires_days) if expires_days else None
    new = _command(users.create_api_token, email, name, expires_in, write=True)
    typer.echo(
        f"token {new.token.id} for {email}"
        + (f", expires {new.token.expires_at:%Y-%m-%d}" if new.token.expires_at else ""),
        err=True,
    )
    typer.echo(new.secret)


@token_app.command("revoke")
@friendly
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (the part before the '.')."""
    from jobgraph.resolvers import users

    _command(users.revoke_api_token, token_id.split(".", 1)[0], write=True)
    typer.echo(f"revoked {token_id.split('.', 1)[0]}")


@token_app.command("list")
@friendly
def token_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens (default: everyone's).")] = None,
) -> None:
    """List tokens (never their secrets): id, user, name, dates, and the API token an access token
    was derived from."""
    from datetime import datetime

    from jobgraph.resolvers import users

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"

    rows = [["ID", "USER", "NAME", "CREATED", "EXPIRES", "REVOKED", "DERIVED-FROM"]]
    for listed in _command(users.list_api_tokens, user):
        token = listed.token
        rows.append(
            [
                token.id,
                listed.user_email,
                token.name or "-",
                when(token.created_at),
                when(token.expires_at),
                when(token.revoked_at),
                token.parent_id or "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _manifest_specs(manifest: Path) -> list[PluginSpec]:
    """The specs of a manifest file (one plugin object, or a list), not yet checked."""
    from jobgraph.resolvers import plugins

    try:
        data = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise fail(f"{manifest} is not valid JSON: {exc}") from None
    specs = []
    for item in data if isinstance(data, list) else [data]:
        spec = plugins.spec_from_manifest(item)
        if spec.kind == "command" and isinstance(spec.entrypoint, list):
            spec.entrypoint = [_beside(manifest, arg) for arg in spec.entrypoint]
        specs.append(spec)
    return specs


@plugin_app.command("register")
@friendly
def plugin_register(
    manifest: Annotated[Path, typer.Argument(help="A JSON file: one plugin object, or a list.")],
) -> None:
    """Register (or update) plugins from a manifest file."""
    from jobgraph.resolvers import plugins

    specs = _manifest_specs(manifest)

    def register(u: Unit, viewer: None) -> list[Plugin]:  # all of the manifest, or none of it
        return [plugins.register_plugin(u, viewer, spec) for spec in specs]

    for plugin in _command(register, write=True):
        typer.echo(f"registered {plugin.plugin_id} ({plugin.kind}, queue {plugin.queue})")


def _beside(manifest: Path, arg: object) -> object:
    """A command's argument that names a file beside the manifest becomes its absolute path:
    commands run in their job's work folder, not where the manifest was."""
    if isinstance(arg, str) and not Path(arg).is_absolute() and (manifest.parent / arg).is_file():
        return str((manifest.parent / arg).resolve())
    return arg


@plugin_app.command("validate")
@friendly
def plugin_validate(
    manifest: Annotated[
        Path | None, typer.Argument(help="A JSON file: one plugin object, or a list. Default: installed packages'.")
    ] = None,
) -> None:
    """Check manifests as registration would, without the database: the fields, the JSON Schemas,
    and that a python plugin's entrypoint imports here. Exit 1 if any is refused."""
    from jobgraph.resolvers import installed_plugins, plugins

    if manifest is None:
        specs, skipped = installed_plugins.installed_specs()
        for spec in specs:
            typer.echo(f"ok {spec.plugin_id} ({spec.kind}, {_entrypoint_text(spec.entrypoint)})")
        if not specs and not skipped:
            typer.echo(f"no installed package has a plugin (entry point group {_group()!r})")
        if skipped:
            raise fail("; ".join(skipped))
        return
    for spec in _manifest_specs(manifest):
        plugins.check_spec(spec)
        typer.echo(f"ok {spec.plugin_id} ({spec.kind}, {_entrypoint_text(spec.entrypoint)})")


def _group() -> str:
    from jobgraph.plugins.installed import GROUP

    return GROUP


def _entrypoint_text(entrypoint: Any) -> str:
    return " ".join(entrypoint) if isinstance(entrypoint, list) else str(entrypoint)


@plugin_app.command("sync")
@friendly
def plugin_sync() -> None:
    """Register (or update) the plugins of installed packages now, as `serve` and `worker` do on
    start. Each keeps its enabled flag."""
    from jobgraph.resolvers import installed_plugins

    installed = _command(installed_plugins.register_installed_plugins, write=True)
    for plugin in installed.registered:
        typer.echo(f"registered {plugin.plugin_id} {plugin.version} ({plugin.kind}, queue {plugin.queue})")
    if not installed.registered and not installed.skipped:
        typer.echo(f"no installed package has a plugin (entry point group {_group()!r})")
    if installed.skipped:
        raise fail("skipped " + "; ".join(installed.skipped))


@plugin_app.command("list")
@friendly
def plugin_list(
    installed: Annotated[
        bool, typer.Option("--installed", help="The installed packages' plugins (entry points), not the database's.")
    ] = False,
) -> None:
    """List registered plugins: id, kind, queue, version, description, (disabled)."""
    if installed:
        from jobgraph.plugins.installed import discover

        for found in discover():
            ids = ", ".join(str(m.get("pluginId")) for m in found.manifests)
            typer.echo(f"{found.distribution}\t{found.name}\t{ids or 'error: ' + str(found.problem)}")
        return
    from jobgraph.resolvers import plugins

    for plugin in _command(plugins.list_plugins):
        state = "" if plugin.enabled else " (disabled)"
        typer.echo(f"{plugin.plugin_id}\t{plugin.kind}\t{plugin.queue}\t{plugin.version}\t{plugin.description}{state}")


@plugin_app.command("disable")
@friendly
def plugin_disable(plugin_id: str) -> None:
    """Refuse new jobs of a plugin; its jobs keep their record (queued ones still run)."""
    from jobgraph.resolvers import plugins

    _command(plugins.set_plugin_enabled, plugin_id, False, write=True)
    typer.echo(f"disabled {plugin_id}")


@plugin_app.command("enable")
@friendly
def plugin_enable(plugin_id: str) -> None:
    """Accept new jobs of a plugin again."""
    from jobgraph.resolvers import plugins

    _command(plugins.set_plugin_enabled, plugin_id, True, write=True)
    typer.echo(f"enabled {plugin_id}")


@plugin_app.command("remove")
@friendly
def plugin_remove(plugin_id: str) -> None:
    """Delete a plugin that has no jobs (one with jobs is refused: disable it instead). A plugin of
    an installed package comes back on the next start: uninstall the package, or disable it."""
    from jobgraph.resolvers import plugins

    _command(plugins.remove_plugin, plugin_id, write=True)
    typer.echo(f"removed {plugin_id}")
