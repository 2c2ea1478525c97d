"""docs/configuration.md lists every setting: a new field of Settings without its row fails here."""

from __future__ import annotations

import re
from pathlib import Path

from jobgraph.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def documented() -> set[str]:
    """The variables the reference's tables have a row for (the first cell of a row)."""
    return set(re.findall(r"^\| `JOBGRAPH_([A-Z0-9_]+)` \|", DOC.read_text(), flags=re.MULTILINE))


def test_every_setting_has_a_row_in_the_reference() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    assert sorted(settings - documented()) == []


def test_the_reference_names_no_setting_that_does_not_exist() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    assert sorted(documented() - settings) == []
