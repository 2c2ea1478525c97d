"""Storage: tables, engine and sessions, migrations."""

from jobgraph.db.engine import Database
from jobgraph.db import models

__all__ = ["Database", "models"]
