"""Run by tests/plugins/test_template.py with the python of a venv the template package was
pip-installed into: start jobgraph (SQLite in the folder given), run one word-count job, print
what a user sees of it (JSON). Not a test module itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support import Api, make_settings


def main(folder: Path) -> None:
    settings = make_settings(
        folder, f"sqlite:///{folder / 'jobgraph.db'}", builtin_plugins=False, installed_plugins=True
    )
    with Api.start(settings) as api:
        plugins = api.gql("{ plugins { pluginId version kind } }")["plugins"]
        job = api.create_job("example.word-count", {"texts": ["The cat saw the dog.", "The end"], "top": 1})
        done = api.wait_for(job["jobId"], timeout=120)
        query = "query($id: ID!) { job(jobId: $id) { outputs { fileName url } } }"
        files = {
            o["fileName"]: api.client.get(o["url"], headers=api.headers()).text
            for o in api.gql(query, {"id": done["jobId"]})["job"]["outputs"]
        }
    print(json.dumps({"plugins": plugins, "job": done, "files": files}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
