"""The environment a plugin runs with: a small allowlist of the worker's own (where programs
are, the locale, the time zone, the temporary folder) and the job's own variables. Nothing
else: not the server's settings (JOBGRAPH_DATABASE_URL, JOBGRAPH_ADMIN_TOKEN, ...), not
whatever secrets the worker's environment holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

ALLOWED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",  # where the worker's own plugins' modules are
        "PYTHONIOENCODING",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "SYSTEMROOT",
    }
)
ALLOWED_PREFIXES = ("LC_",)


def allowed(name: str, extra: Iterable[str] = ()) -> bool:
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES) or name in extra


def plugin_environment(
    source: Mapping[str, str], job: Mapping[str, str] | None = None, *, extra: Iterable[str] = ()
) -> dict[str, str]:
    """The allowlisted part of `source` (and the names in `extra`), then the job's variables."""
    extra = frozenset(extra)
    env = {name: value for name, value in source.items() if allowed(name, extra)}
    env.update(job or {})
    return env


def job_variables(job_id: object, input_dir: object, output_dir: object) -> dict[str, str]:
    return {
        "JOBGRAPH_JOB_ID": str(job_id),
        "JOBGRAPH_INPUT_DIR": str(input_dir),
        "JOBGRAPH_OUTPUT_DIR": str(output_dir),
    }
