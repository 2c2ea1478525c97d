"""schema.graphql at the top of the repository is the schema the code serves."""

from __future__ import annotations

from pathlib import Path

from jobgraph.schema import build_schema

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_exported_schema_is_current() -> None:
    current = str(build_schema()) + "\n"
    assert SDL.exists(), "run: jobgraph schema -o schema.graphql"
    assert SDL.read_text() == current, "schema.graphql is stale: run `jobgraph schema -o schema.graphql`"


def test_the_contract_operations_exist() -> None:
    sdl = str(build_schema())
    for operation in (
        "job(jobId: ID!): Job",
        "jobs(filter: JobFilter = null, orderBy: JobOrder! = NEWEST",
        "createJobs(inputs: [CreateJobInput!]!): [Job!]!",
        "jobUpdated(jobId: ID!): Job!",
        "jobEvents(filter: JobFilter = null): JobEvent!",
        "queueStats: QueueStats!",
        "workers: [Worker!]!",
        "revokeApiToken(tokenId: ID!): Boolean!",
    ):
        assert operation in sdl, operation
