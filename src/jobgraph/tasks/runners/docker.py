"""Run a docker plugin as `docker run` of its image, CIRCUS's layout: the work folder's input/
at /circus/in and output/ at /circus/out. Messages, exit code and results as for commands."""

from __future__ import annotations

import shutil
import subprocess

from jobgraph.tasks.runners import command, reaper
from jobgraph.tasks.runners.base import Control, Outcome

DOCKER_CLIENT = ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def container_name(control: Control) -> str:
    return f"jobgraph-{control.payload.get('jobId')}-{control.payload.get('attempt', 1)}"


def docker_argv(control: Control, image: str, docker: str = "docker") -> list[str]:
    return [
        docker,
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "--name",
        container_name(control),
        "--label",
        f"jobgraph.job={control.payload.get('jobId')}",
        "-v",
        f"{control.input_dir.resolve()}:/circus/in:ro",
        "-v",
        f"{control.output_dir.resolve()}:/circus/out",
        image,
    ]


def run(control: Control, image: str) -> Outcome:
    docker = shutil.which("docker")
    if docker is None:
        return Outcome("failed", error="docker is not installed on this worker")
    # The container lives in the Docker daemon, not in the CLI's process group: kill it by name.
    name = container_name(control)

    def kill_container() -> None:
        subprocess.run([docker, "kill", name], capture_output=True, timeout=30, check=False)

    # Should the worker die, the reaper kills the CLI's group but the container lives on: have
    # the reaper kill it too.
    reaper.on_death(name, [docker, "kill", name])
    try:
        # The docker CLI may need to know where its daemon is; the container sees none of it.
        argv = docker_argv(control, image, docker)
        return command.run(control, argv, also_allow=DOCKER_CLIENT, on_stop=kill_container)
    finally:
        reaper.cancel_on_death(name)
