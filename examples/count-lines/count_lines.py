#!/usr/bin/env python3
"""An example `command` plugin: counts the lines of the texts in its input.

jobgraph runs it in a work folder with the input in input/job.json (and on stdin) and an empty
output/ folder. Each stdout line becomes an info message, each stderr line a warning. Exit 0
succeeds; output/results.json is the result; every other file in output/ is an output.
"""

import json
import sys
import time
from pathlib import Path

job = json.loads(Path("input/job.json").read_text())
texts = (job.get("input") or {}).get("texts", [])
if not isinstance(texts, list):
    print("input.texts must be a list of strings", file=sys.stderr)
    sys.exit(2)

counts = []
for number, text in enumerate(texts, start=1):
    counts.append(len(str(text).splitlines()))
    print(f"text {number} of {len(texts)}: {counts[-1]} lines", flush=True)
    time.sleep(float((job.get("input") or {}).get("pause", 0)))
if not texts:
    print("no texts given", file=sys.stderr)

output = Path("output")
(output / "counts.csv").write_text("text,lines\n" + "".join(f"{i},{n}\n" for i, n in enumerate(counts, 1)))
(output / "results.json").write_text(json.dumps({"total": sum(counts), "counts": counts}))
