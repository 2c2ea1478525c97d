"""The plugin's own tests: its function called with the context jobgraph gives it (a real
JobContext), its manifest checked as jobgraph checks it. Run them with the package installed:

    pip install -e '.[test]' && pytest
"""

from __future__ import annotations

import csv
import importlib.metadata
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jobgraph.tasks.context import JobCancelled, JobContext

from jobgraph_example_plugin import PLUGIN, word_count


class Job:
    """A job's context as a worker makes it, and what the plugin reported through it."""

    def __init__(self, tmp_path: Path, input: Any) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.cancel = threading.Event()
        output = tmp_path / "output"
        output.mkdir()
        payload = {"jobId": "01TESTJOB", "number": 1, "attempt": 1, "input": input, "series": []}
        self.ctx = JobContext(payload, output, self.events.append, self.cancel)

    @property
    def messages(self) -> list[tuple[str, int]]:
        return [(e[1], e[2]) for e in self.events if e[0] == "message"]

    @property
    def progress(self) -> list[float]:
        return [e[1] for e in self.events if e[0] == "progress"]


def test_it_counts_words_reports_progress_and_writes_a_csv(tmp_path: Path) -> None:
    job = Job(tmp_path, {"texts": ["The cat saw the dog.", "The end"], "top": 1})
    result = word_count(job.ctx)
    assert result == {"words": 7, "distinct": 5, "top": [{"word": "the", "count": 3}]}
    assert job.messages == [("text 1 of 2: 5 words", 1), ("text 2 of 2: 2 words", 1)]
    assert job.progress == [0.5, 1.0]
    rows = list(csv.reader((tmp_path / "output" / "words.csv").open()))
    assert rows[:2] == [["word", "count"], ["the", "3"]]


def test_texts_without_words_give_a_warning(tmp_path: Path) -> None:
    job = Job(tmp_path, {"texts": ["1 2 3"]})
    assert word_count(job.ctx)["words"] == 0
    assert ("no words in any text", 2) in job.messages


def test_a_cancelled_job_stops(tmp_path: Path) -> None:
    job = Job(tmp_path, {"texts": ["a b c"]})
    job.cancel.set()
    with pytest.raises(JobCancelled):
        word_count(job.ctx)


def test_the_input_schema_is_valid_and_refuses_bad_input() -> None:
    schema = PLUGIN["inputSchema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"texts": ["x"], "top": 3}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"texts": "not a list"}, schema)


def test_jobgraph_finds_the_plugin_through_its_entry_point() -> None:
    found = [ep for ep in importlib.metadata.entry_points(group="jobgraph.plugins") if ep.name == "word-count"]
    assert found, "the package is not installed: pip install -e '.[test]'"
    assert found[0].load() is PLUGIN
