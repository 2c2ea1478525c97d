"""The plugin itself: one function, called once per job attempt with the job's context."""

from __future__ import annotations

import csv
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the type: at run time the plugin needs nothing from jobgraph
    from jobgraph.tasks.context import JobContext

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def word_count(ctx: JobContext) -> dict[str, Any]:
    """Count the words of `ctx.input["texts"]`.

    Reports a message per text and the progress, writes `words.csv` (word, count) to the output
    folder (each file there becomes an output of the job) and returns the result (any JSON value).
    An exception fails the attempt; its text is the job's error.
    """
    texts: list[str] = ctx.input["texts"]  # already validated against the manifest's inputSchema
    top = int(ctx.input.get("top", 10))
    counts: Counter[str] = Counter()
    for number, text in enumerate(texts, start=1):
        ctx.check_cancelled()  # raises JobCancelled when the job was cancelled: let it propagate
        words = [w.lower() for w in WORD.findall(text)]
        counts.update(words)
        ctx.message(f"text {number} of {len(texts)}: {len(words)} words")
        ctx.progress(number / len(texts))
    if not counts:
        ctx.message("no words in any text", status=2)  # 2: a warning
    with open(ctx.output_dir / "words.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["word", "count"])
        writer.writerows(counts.most_common())
    return {
        "words": sum(counts.values()),
        "distinct": len(counts),
        "top": [{"word": word, "count": n} for word, n in counts.most_common(top)],
    }
