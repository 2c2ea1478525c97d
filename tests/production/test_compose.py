"""compose.yaml: its commands and variables match the real CLI and Settings, and the same
commands, run as local processes on the local PostgreSQL and Redis, take 1,000 jobs through
GraphQL, each run exactly once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from jobgraph.cli.main import app
from jobgraph.settings import Settings
from tests.production import recorder
from tests.production.harness import REPO, Cluster, free_port

COMPOSE = REPO / "compose.yaml"
JOBGRAPH_SERVICES = ("migrate", "api", "worker")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def resolve(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR}, with the variables unset."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def parse_cli(argv: list[str]) -> tuple[Any, dict[str, Any]]:
    """Parse `jobgraph ...` with the real typer app: unknown commands or options, and values of
    the wrong type, fail here exactly as they would in the container."""
    assert argv[0] == "jobgraph", argv
    group: Any = typer.main.get_command(app)  # typer's own (vendored) click classes
    name, *rest = argv[1:]
    command = group.get_command(group.context_class(group), name)
    assert command is not None, f"jobgraph has no command {name!r}"
    context = command.make_context(name, list(rest))
    return command, context.params


def test_services_and_their_commands_match_the_cli() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    expected = {"migrate": "migrate", "api": "serve", "worker": "worker"}
    for name in JOBGRAPH_SERVICES:
        command, _ = parse_cli([resolve(a) for a in services[name]["command"]])
        assert command.name == expected[name]
    _, api = parse_cli(services["api"]["command"])
    assert api["host"] == "0.0.0.0" and api["port"] == 8000
    _, worker = parse_cli(services["worker"]["command"])
    assert worker["threads"] >= 1 and worker["metrics_port"] == 9100
    assert not worker["queue"], "the compose worker serves every queue"


def test_every_variable_is_a_setting_and_parses() -> None:
    services = compose()["services"]
    fields = set(Settings.model_fields)
    for name in JOBGRAPH_SERVICES:
        env = {k: resolve(v) for k, v in services[name]["environment"].items()}
        jobgraph_vars = {k: v for k, v in env.items() if k.startswith("JOBGRAPH_")}
        assert set(jobgraph_vars) == set(env), f"{name}: only JOBGRAPH_* variables expected, got {sorted(env)}"
        for key in jobgraph_vars:
            assert key.removeprefix("JOBGRAPH_").lower() in fields, f"{name}: {key} is no Settings field"
        settings = Settings(**{k.removeprefix("JOBGRAPH_").lower(): v for k, v in jobgraph_vars.items() if v != ""})
        assert settings.database_url and settings.database_url.startswith("postgresql")
        assert settings.redis_url and settings.redis_url.startswith("redis://")
        assert not settings.is_sqlite
        assert not settings.run_embedded_workers  # the API starts no workers: the worker service does
        assert str(settings.data_dir) == "/data"


def test_order_volumes_and_scaling() -> None:
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "data:/data" in services[name]["volumes"]  # output files shared by the API and workers
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker  # `--scale worker=N` must work
    grace = float(worker["environment"]["JOBGRAPH_SHUTDOWN_GRACE_SECONDS"])
    assert float(str(worker["stop_grace_period"]).rstrip("s")) > grace  # Docker waits for the hand-back
    assert worker["stop_signal"] == "SIGTERM"
    assert (REPO / "Dockerfile").exists()


def _local(argv: list[str], **ports: int) -> list[str]:
    """The compose command for a local process: `python -m jobgraph`, local addresses and ports."""
    args = [resolve(a) for a in argv[1:]]
    for option, value in (("--host", "127.0.0.1"), *((f"--{k.replace('_', '-')}", str(v)) for k, v in ports.items())):
        if option in args:
            args[args.index(option) + 1] = value
    return args


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_compose_commands_take_a_thousand_jobs_exactly_once(tmp_path: Path, cluster: Cluster) -> None:
    services = compose()["services"]
    # migrate: the cluster fixture ran `jobgraph migrate`; the compose command must be that one.
    assert services["migrate"]["command"] == ["jobgraph", "migrate"]
    assert cluster.cli(*_local(services["migrate"]["command"])).returncode == 0  # and again: nothing to do
    cluster.api_port = free_port()
    api_args = _local(services["api"]["command"], port=cluster.api_port)
    api = cluster.start("api", *api_args)
    from tests.production.harness import wait_until

    wait_until(lambda: cluster._healthy(api), 30, "the API", poll=0.1)
    workers = [
        cluster.start("worker", *_local(services["worker"]["command"], metrics_port=free_port())) for _ in range(2)
    ]
    for worker in workers:
        cluster.wait_worker_registered(worker)
    assert len(cluster.gql("{ workers { pid } }")["workers"]) == 2  # and none inside the API

    cluster.register_recorder()
    log = str(cluster.runs_log)
    job_ids: list[str] = []
    for _ in range(10):
        job_ids += cluster.gql_create_jobs("test.record", [{"log": log}] * 100)
    assert len(set(job_ids)) == 1000
    jobs = cluster.wait_all_ended(job_ids, timeout=120)
    assert {j.status for j in jobs.values()} == {"finished"}
    assert {j.retries for j in jobs.values()} == {0}
    runs = recorder.runs(cluster.runs_log)
    assert all(runs[(j, 1, "start")] == 1 and runs[(j, 1, "end")] == 1 for j in job_ids)
    assert sum(runs.values()) == 2000  # nothing else ran
    assert {j.worker_id for j in jobs.values()} == set(w["id"] for w in cluster.gql("{ workers { id } }")["workers"]), (
        "both workers took jobs"
    )
