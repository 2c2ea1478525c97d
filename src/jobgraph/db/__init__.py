"""Storage: tables, engine and sessions, migrations."""

from jobgraph.db import models
from jobgraph.db.engine import Database

__all__ = ["Database", "models"]
