"""Schema migrations with Alembic, driven from code (`jobgraph migrate`, and the embedded
default's own start). Processes refuse to run on a database that is behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from jobgraph.db.engine import Database
from jobgraph.errors import SchemaOutOfDate

SCRIPTS = Path(__file__).with_name("alembic")


__all__ = [
    "SchemaOutOfDate",
    "current_revision",
    "head_revision",
    "include_object",
    "require_current",
    "revision",
    "upgrade",
]


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` for comparing the models with a database of `dialect`: an
    object the models make only on another dialect (models.only_on, e.g. a GIN index) is left out."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        only = getattr(obj, "info", {}).get("only_on")
        return only is None or only == dialect

    return include


def head_revision() -> str | None:
    return ScriptDirectory(str(SCRIPTS)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    config = _config(db)
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The idle-in-transaction limit (db/engine.py) is for workers that freeze; a migration
            # is one long transaction whose pauses (a busy machine) must not end it.
            conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def revision(db: Database, message: str) -> None:
    """Developers: write a new migration from the difference between the models and `db`."""
    config = _config(db)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.revision(config, message=message, autogenerate=True)


def require_current(db: Database) -> None:
    current, head = current_revision(db), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current or 'none'}, this jobgraph needs {head}: "
            "run `jobgraph migrate` first"
        )
