"""Hostile arguments for every query and mutation, on SQLite and on PostgreSQL: text with NUL and
lone surrogates, integers past 2^31, 2^63 and of 5000 digits, dates at the ends of the calendar,
JSON nested 100 and 100 000 levels deep, forged cursors. The app answers each one without a 5xx,
every GraphQL error carries a code that is not an internal error, and a refused mutation stores
nothing.

Requests are JSON bodies written here byte by byte: a lone surrogate travels as a `\\ud800` escape
(it is not valid UTF-8), and numbers and nesting Python will not print or recurse into travel as
raw JSON text (`Raw`).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from jobgraph.db.models import ApiToken, Feedback, Job, Plugin, Series, User
from jobgraph.resolvers import job_list, jobs
from jobgraph.resolvers import users as user_cases
from tests.support import ADMIN_TOKEN, Api, unit_call

MAX_EXAMPLES = 40  # per operation, per database
FAR_FUTURE = "2999-01-01T00:00:00+00:00"
STORED = (Job, User, Plugin, ApiToken, Series, Feedback)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# ---------------------------------------------------------------- raw JSON text


@dataclass(frozen=True)
class Raw:
    """JSON text sent as it is; shown in reports by its label."""

    text: str
    label: str

    def __repr__(self) -> str:
        return f"Raw({self.label})"


def encode(payload: Any) -> bytes:
    """JSON text of `payload`: ASCII, so lone surrogates become `\\udXXX` escapes; `Raw` values
    spliced in as they are; NaN and Infinity as Python writes them (hostile too)."""
    marker = uuid.uuid4().hex
    raws: list[str] = []

    def default(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"{marker}{len(raws) - 1}"
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(payload, default=default)
    for index, raw in enumerate(raws):
        text = text.replace(f'"{marker}{index}"', raw, 1)
    return text.encode("ascii")


def nested_list(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth, f"list nested {depth} deep")


def nested_object(depth: int) -> Raw:
    return Raw('{"a":' * depth + "1" + "}" * depth, f"object nested {depth} deep")


def digits(count: int, sign: str = "") -> Raw:
    return Raw(sign + "9" * count, f"{sign}integer of {count} digits")


def long_text(length: int) -> Raw:
    return Raw(json.dumps("x" * length), f"text of {length} characters")


def forged_cursor(json_text: str, label: str) -> Raw:
    """A cursor as jobgraph writes them (url-safe base64 of JSON), around any JSON text."""
    encoded = base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")
    return Raw(json.dumps(encoded), f"cursor of {label}")


# ---------------------------------------------------------------- hostile values

SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "a\udfffb",
    "\udc00\ud800",
    "\x00\ud800",
    "\U0001f600",
    "\u202e",
    "%00",
    "'; DROP TABLE jobs; --",
    "../../etc/passwd",
    "\n\r\t",
    "1.2.840.1\x00",
]
LONG_TEXT = [long_text(n) for n in (129, 321, 1_000, 70_000)]
CHARACTERS = st.characters(categories=["Cs", "Cc", "Lu", "Ll", "Nd", "Po", "Zs", "So"])
plain_text = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(CHARACTERS, max_size=12))
texts = st.one_of(plain_text, st.sampled_from(LONG_TEXT))

BIG_INTS: list[Any] = [
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    digits(5000),
    digits(5000, "-"),
    Raw("1e400", "1e400"),
    Raw("-1e400", "-1e400"),
]
ints = st.one_of(st.sampled_from(BIG_INTS), st.integers())

DATES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999999+00:00",
    "0000-01-01T00:00:00Z",
    "+10000-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T25:00:00Z",
    "2024-01-01T00:00:00+24:00",
    "2024-01-01",
    "garbage",
    "2024-01-01T00:00:00\x00",
    "2024-01-01T00:00:00Z",
]
dates = st.one_of(st.sampled_from(DATES), plain_text, ints)

DEEP = [nested_list(100), nested_object(100), nested_list(100_000), nested_object(100_000)]
json_leaves = st.one_of(st.none(), st.booleans(), ints, st.floats(), texts)
json_values = st.one_of(
    st.recursive(
        json_leaves,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(plain_text, children, max_size=3),
        max_leaves=8,
    ),
    st.sampled_from(DEEP),
)

ORDERS = ["NEWEST", "OLDEST", "DISPATCH", "RECENTLY_UPDATED"]
CURSORS = [
    forged_cursor('["NEWEST",[1]]', "a real shape"),
    forged_cursor('["NEWEST",[2147483648]]', "2^31"),
    forged_cursor('["NEWEST",[9223372036854775808]]', "2^63"),
    forged_cursor('["OLDEST",[-9223372036854775809]]', "-2^63-1"),
    forged_cursor('["NEWEST",[' + "9" * 5000 + "]]", "5000 digits"),
    forged_cursor('["DISPATCH",[2147483648,1]]', "priority 2^31"),
    forged_cursor('["DISPATCH",[1,9223372036854775808]]', "number 2^63"),
    forged_cursor('["DISPATCH",[1e400,1]]', "1e400"),
    forged_cursor('["RECENTLY_UPDATED",["0001-01-01T00:00:00+14:00",1]]', "year 1 at +14:00"),
    forged_cursor('["RECENTLY_UPDATED",["9999-12-31T23:59:59-14:00",1]]', "year 9999 at -14:00"),
    forged_cursor('["RECENTLY_UPDATED",["garbage",1]]', "a garbage date"),
    forged_cursor('["RECENTLY_UPDATED",["2024-01-01T00:00:00\\u0000",1]]', "a date with NUL"),
    forged_cursor('["NEWEST",[true]]', "true"),
    forged_cursor('["NEWEST",[null]]', "null"),
    forged_cursor('["NEWEST",[[1]]]', "a nested list"),
    forged_cursor('["NEWEST",{"a":1}]', "an object"),
    forged_cursor('"NEWEST"', "a string"),
    forged_cursor("[" * 100_000 + "]" * 100_000, "a list nested 100000 deep"),
    forged_cursor("\x00", "NUL"),
    Raw('"!!!"', "'!!!'"),
    Raw('"===="', "'===='"),
]
cursors = st.one_of(st.none(), st.sampled_from(CURSORS), texts)
STATUSES = ["queued", "running", "finished", "failed", "cancelled", "invalidated"]
PRIVILEGES = ["manageServer", "manageJobs", "executePlugin", "inputPersonalFeedback", "manageFeedback"]
booleans = st.one_of(st.booleans(), st.sampled_from([None, 0, "true"]))
BULK_ACTIONS = ["RETRY", "CANCEL", "DELETE", "SET_PRIORITY"]


# ---------------------------------------------------------------- the operations


@dataclass(frozen=True)
class Seeds:
    """Real objects, so that hostile values sit beside ones that pass and reach deeper checks."""

    queued_job: str
    finished_job: str
    feedback_id: str
    user_email: str
    token_id: str


def some_ids(*real: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from([*real, "0" * 26]), texts, ints)


def plugin_ids() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(["jobgraph.noop", "jobgraph.echo"]), texts, ints)


def series_uids() -> st.SearchStrategy[Any]:
    return st.one_of(st.just("1.2.840.1"), texts, ints)


def volumes() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.fixed_dictionaries({"start": ints, "end": ints}, optional={"delta": ints}),
    )


def job_inputs(seeds: Seeds) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"pluginId": plugin_ids()},
        optional={
            "input": json_values,
            "series": st.lists(
                st.fixed_dictionaries({"seriesUid": series_uids()}, optional={"partialVolumeDescriptor": volumes()}),
                max_size=2,
            ),
            "priority": ints,
            "queue": texts,
            "attempts": ints,
            "runAt": dates,
            "expires": dates,
            "parents": st.lists(some_ids(seeds.finished_job), max_size=2),
            "lax": booleans,
            "notes": json_values,
            "runLevel": texts,
        },
    )


def job_filters() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {},
            optional={
                "status": st.lists(st.one_of(st.sampled_from(STATUSES), texts), max_size=2),
                "pluginId": st.lists(plugin_ids(), max_size=2),
                "userEmail": st.lists(texts, max_size=2),
                "queue": st.lists(texts, max_size=2),
                "seriesUid": series_uids(),
                "createdAfter": dates,
                "createdBefore": dates,
                "updatedAfter": dates,
                "finishedAfter": dates,
                "finishedBefore": dates,
                "errorContains": texts,
            },
        ),
    )


@dataclass(frozen=True)
class Operation:
    name: str
    document: str
    variables: Callable[[Seeds], st.SearchStrategy[dict[str, Any]]]

    @property
    def is_mutation(self) -> bool:
        return self.document.startswith("mutation")


PAGE = "{ totalCount edges { cursor node { jobId } } }"
OPERATIONS = [
    Operation(
        "job",
        "query($id: ID!) { job(jobId: $id) { jobId number status } }",
        lambda s: st.fixed_dictionaries({"id": some_ids(s.queued_job, s.finished_job)}),
    ),
    Operation(
        "jobs",
        f"query($f: JobFilter, $o: JobOrder!, $n: Int!, $a: String) {{ jobs(filter: $f, orderBy: $o, first: $n, "
        f"after: $a) {PAGE} }}",
        lambda s: st.fixed_dictionaries(
            {
                "f": job_filters(),
                "o": st.one_of(st.sampled_from(ORDERS), texts),
                "n": st.one_of(st.just(20), ints),
                "a": cursors,
            }
        ),
    ),
    Operation(
        "plugin.jobs",
        f"query($p: ID!, $n: Int!, $a: String) {{ plugin(pluginId: $p) {{ pluginId jobs(first: $n, after: $a) "
        f"{PAGE} }} }}",
        lambda s: st.fixed_dictionaries({"p": plugin_ids(), "n": st.one_of(st.just(20), ints), "a": cursors}),
    ),
    Operation(
        "series.jobs",
        f"query($u: String!, $n: Int!, $a: String) {{ series(seriesUid: $u) {{ seriesUid jobs(first: $n, "
        f"after: $a) {PAGE} }} }}",
        lambda s: st.fixed_dictionaries({"u": series_uids(), "n": st.one_of(st.just(20), ints), "a": cursors}),
    ),
    Operation(
        "seriesList",
        "query($n: Int!) { seriesList(first: $n) { seriesUid } }",
        lambda s: st.fixed_dictionaries({"n": ints}),
    ),
    Operation(
        "plugins and the other queries without arguments",
        "query { plugins { pluginId } me { email } apiTokens { tokenId } users { email } queueStats { total } "
        "workers { id } }",
        lambda s: st.fixed_dictionaries({}, optional={"unused": json_values}),
    ),
    Operation(
        "registerPlugin",
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
        lambda s: st.fixed_dictionaries(
            {
                "i": st.fixed_dictionaries(
                    {
                        "pluginId": st.one_of(st.just("fuzz.plugin"), texts, ints),
                        "kind": st.one_of(st.sampled_from(["python", "command", "docker"]), texts),
                        "entrypoint": st.one_of(st.just("jobgraph.plugins.builtin:noop"), json_values),
                        "enabled": st.just(False),  # nothing registered here ever runs
                    },
                    optional={
                        "name": texts,
                        "version": texts,
                        "description": texts,
                        "inputSchema": json_values,
                        "feedbackSchema": json_values,
                        "timeout": ints,
                        "attempts": ints,
                        "queue": texts,
                        "isolation": st.one_of(st.sampled_from(["process", "thread"]), texts),
                        "icon": json_values,
                        "displayStrategy": json_values,
                        "env": st.one_of(json_values, st.dictionaries(plain_text, texts, max_size=2)),
                    },
                )
            }
        ),
    ),
    Operation(
        "setPluginEnabled",
        "mutation($p: ID!, $e: Boolean!) { setPluginEnabled(pluginId: $p, enabled: $e) { pluginId } }",
        lambda s: st.fixed_dictionaries({"p": st.one_of(texts, ints), "e": booleans}),
    ),
    Operation(
        "removePlugin",
        "mutation($p: ID!) { removePlugin(pluginId: $p) }",
        lambda s: st.fixed_dictionaries({"p": st.one_of(texts, ints)}),
    ),
    Operation(
        "registerSeries",
        "mutation($i: SeriesInput!) { registerSeries(input: $i) { seriesUid } }",
        lambda s: st.fixed_dictionaries(
            {
                "i": st.fixed_dictionaries(
                    {"seriesUid": st.one_of(st.just("1.2.840.99"), texts, ints)},
                    optional={"modality": texts, "description": texts, "imageCount": ints},
                )
            }
        ),
    ),
    Operation(
        "createJob",
        "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }",
        lambda s: st.fixed_dictionaries({"i": job_inputs(s)}),
    ),
    Operation(
        "createJobs",
        "mutation($i: [CreateJobInput!]!) { createJobs(inputs: $i) { jobId } }",
        lambda s: st.fixed_dictionaries({"i": st.lists(job_inputs(s), min_size=1, max_size=3)}),
    ),
    Operation(
        "updateJob",
        "mutation($id: ID!, $p: Int, $n: JSON) { updateJob(jobId: $id, priority: $p, notes: $n) { jobId } }",
        lambda s: st.fixed_dictionaries(
            {"id": some_ids(s.queued_job)}, optional={"p": ints, "n": st.one_of(json_values, st.just({"k": 1}))}
        ),
    ),
    Operation(
        "addFeedback",
        "mutation($id: ID!, $i: FeedbackInput!) { addFeedback(jobId: $id, input: $i) { feedbackId } }",
        lambda s: st.fixed_dictionaries(
            {
                "id": some_ids(s.finished_job),
                "i": st.fixed_dictionaries(
                    {}, optional={"isConsensual": booleans, "data": json_values, "actionLog": json_values}
                ),
            }
        ),
    ),
    Operation(
        "cancelJob, retryJob, invalidateJob",
        "mutation($id: ID!, $other: ID!) { cancelJob(jobId: $other) { jobId } retryJob(jobId: $id) { jobId } "
        "invalidateJob(jobId: $id) { jobId } }",
        lambda s: st.fixed_dictionaries({"id": some_ids(s.finished_job), "other": some_ids()}),
    ),
    Operation(
        "createUser",
        "mutation($e: String!, $p: [Privilege!]!) { createUser(email: $e, privileges: $p) { email } }",
        lambda s: st.fixed_dictionaries(
            {
                "e": st.one_of(st.just("fuzz@example.com"), texts, st.builds("{}@example.com".format, plain_text)),
                "p": st.lists(st.one_of(st.sampled_from(PRIVILEGES), texts), max_size=2),
            }
        ),
    ),
    Operation(
        "setPrivileges",
        "mutation($e: String!, $p: [Privilege!]!) { setPrivileges(email: $e, privileges: $p) { email } }",
        lambda s: st.fixed_dictionaries(
            {
                # never the admin's address: the admin keeps what every other example needs
                "e": st.one_of(st.just(s.user_email), texts),
                "p": st.lists(st.one_of(st.sampled_from(PRIVILEGES), texts), max_size=2),
            }
        ),
    ),
    Operation(
        "createApiToken",
        "mutation($e: String, $n: String, $d: Int) { createApiToken(email: $e, name: $n, expiresInDays: $d) "
        "{ token { tokenId } } }",
        lambda s: st.fixed_dictionaries(
            {}, optional={"e": st.one_of(st.just(s.user_email), texts), "n": texts, "d": ints}
        ),
    ),
    Operation(
        "deleteFeedback",
        "mutation($id: ID!) { deleteFeedback(feedbackId: $id) }",
        lambda s: st.fixed_dictionaries({"id": some_ids(s.feedback_id)}),
    ),
    Operation(
        "revokeApiToken",
        # never the admin's token: the real id offered is the seeded user's
        "mutation($id: ID!) { revokeApiToken(tokenId: $id) }",
        lambda s: st.fixed_dictionaries({"id": some_ids(s.token_id)}),
    ),
    # Queue control, last: a bulk action may cancel or delete the seeded jobs.
    Operation(
        "pauseQueue, resumeQueue",
        "mutation($q: String!) { pauseQueue(queue: $q) { name paused } resumeQueue(queue: $q) { name paused } }",
        lambda s: st.fixed_dictionaries({"q": st.one_of(st.just("fuzz-queue"), texts, ints)}),
    ),
    Operation(
        "queues, auditLog",
        "query($n: Int) { queues { name queued } auditLog(first: $n) { id filter } }",
        lambda s: st.fixed_dictionaries({}, optional={"n": ints}),
    ),
    Operation(
        "bulkPreview",
        "query($a: BulkAction!, $f: JobFilter!) { bulkPreview(action: $a, filter: $f) { matching applicable } }",
        lambda s: st.fixed_dictionaries({"a": st.one_of(st.sampled_from(BULK_ACTIONS), texts), "f": job_filters()}),
    ),
    Operation(
        "bulkAction",
        "mutation($a: BulkAction!, $f: JobFilter!, $p: Int, $l: Int) { bulkAction(action: $a, filter: $f, "
        "priority: $p, limit: $l) { applied auditId } }",
        lambda s: st.fixed_dictionaries(
            {"a": st.one_of(st.sampled_from(BULK_ACTIONS), texts), "f": job_filters()},
            optional={"p": ints, "l": ints},
        ),
    ),
    Operation(
        "rerunJob",
        "mutation($id: ID!) { rerunJob(jobId: $id) { jobId rerunOf { jobId } } }",
        lambda s: st.fixed_dictionaries({"id": some_ids(s.finished_job)}),
    ),
    Operation(
        "deleteJob",
        "mutation($id: ID!) { deleteJob(jobId: $id) }",
        lambda s: st.fixed_dictionaries({"id": some_ids()}),
    ),
]


# ---------------------------------------------------------------- what a client sees


def post(api: Api, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return api.client.post("/graphql", content=body, headers={**ADMIN, "Content-Type": "application/json", **(headers or {})})


def graphql_problems(response: Any) -> list[str]:
    """What is wrong with an answer: a 5xx, a GraphQL error without a code, or an internal error."""
    problems = []
    if response.status_code >= 500:
        problems.append(f"HTTP {response.status_code}: {response.text[:300]}")
        return problems
    try:
        body = response.json()
    except ValueError:
        return problems  # a 4xx in plain text: refused before GraphQL ran
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        message = str(error.get("message", ""))
        code = (error.get("extensions") or {}).get("code")
        if "internal" in message.lower() or code == "INTERNAL_SERVER_ERROR":
            problems.append(f"internal error at {error.get('path')}: {message[:300]!r}")
        elif not code:
            problems.append(f"error without extensions.code: {message[:300]!r}")
    return problems


def refused(response: Any) -> bool:
    if response.status_code >= 400:
        return True
    try:
        return bool(response.json().get("errors"))
    except ValueError:
        return True


def stored(api: Api) -> dict[str, int]:
    """How many jobs, users, plugins, tokens, series and feedbacks the database holds."""
    counts = [select(func.count()).select_from(model).scalar_subquery() for model in STORED]
    with api.rt.db.session() as s:
        row = s.execute(select(*counts)).one()
    return {model.__tablename__: int(n) for model, n in zip(STORED, row, strict=True)}  # type: ignore[attr-defined]


def check(api: Api, document: str, variables: dict[str, Any], *, mutation: bool) -> None:
    """Send one operation; assert the answer is a coded refusal or a success, and that a refused
    mutation stored nothing."""
    before = stored(api) if mutation else None
    response = post(api, encode({"query": document, "variables": variables}))
    problems = graphql_problems(response)
    if before is not None and refused(response):
        after = stored(api)
        if after != before:
            problems.append(f"refused, yet stored: {before} -> {after}")
    if problems:
        raise AssertionError(f"{'; '.join(problems)}\n    variables: {shown(variables)}")


def shown(value: Any, limit: int = 600) -> str:
    text = repr(value)  # Raw values show as their labels
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


# ---------------------------------------------------------------- setup


def seed(api: Api) -> Seeds:
    finished = api.create_job("jobgraph.echo", {"a": 1})
    queued = api.create_job("jobgraph.noop", None, runAt=FAR_FUTURE)
    api.gql('mutation { registerSeries(input: {seriesUid: "1.2.840.1", imageCount: 100}) { seriesUid } }')
    api.wait_for(finished["jobId"])
    feedback = api.gql(
        "mutation($j: ID!, $d: JSON) { addFeedback(jobId: $j, input: {data: $d}) { feedbackId } }",
        {"j": finished["jobId"], "d": {"ok": True}},
    )
    email = "fuzz-user@example.com"
    secret = api.user(email, ["executePlugin"])
    token_id = api.gql("{ apiTokens { tokenId } }", token=secret)["apiTokens"][0]["tokenId"]
    return Seeds(
        queued_job=queued["jobId"],
        finished_job=finished["jobId"],
        feedback_id=str(feedback["addFeedback"]["feedbackId"]),
        user_email=email,
        token_id=str(token_id),
    )


def stop_jobs(api: Api) -> None:
    """Cancel what is still queued or running, so that the app stops at once."""
    admin = unit_call(api.rt, user_cases.authenticate, ADMIN_TOKEN)
    page = unit_call(api.rt, job_list.list_jobs, admin, job_list.JobFilter(statuses=["queued", "running"]), first=1000)
    for job in page.jobs:
        try:
            unit_call(api.rt, jobs.cancel_job, admin, job.job_id)
        except Exception:
            continue  # it ended meanwhile


def fuzz(api: Api, operation: Operation, seeds: Seeds, sent: list[int]) -> None:
    """Up to MAX_EXAMPLES requests of the operation; raises on the first bad answer."""

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
        # No shrinking: the app's state moves on between examples (jobs get created, cancelled,
        # deleted), so the first failing example is reported as it is (its message names the
        # variables, hostile values by their labels).
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(variables=operation.variables(seeds))
    def run(variables: dict[str, Any]) -> None:
        sent[0] += 1
        check(api, operation.document, variables, mutation=operation.is_mutation)

    run()


# ---------------------------------------------------------------- the property


def test_hostile_arguments_to_every_operation_are_refused_cleanly(
    any_api: Api, record_property: Callable[[str, object], None]
) -> None:
    database = any_api.rt.db.engine.dialect.name
    seeds = seed(any_api)
    failures: dict[str, str] = {}
    sent = [0]
    try:
        for operation in OPERATIONS:
            try:
                fuzz(any_api, operation, seeds, sent)
            except Exception as exc:  # each operation's first failure, then on to the next one
                failures[operation.name] = f"{type(exc).__name__}: {exc}"
    finally:
        stop_jobs(any_api)
    record_property("hostile_graphql_requests", sent[0])
    print(f"hostile GraphQL arguments ({database}): {sent[0]} requests over {len(OPERATIONS)} operations")
    assert not failures, f"{len(failures)} operations answered badly on {database}:\n" + "\n".join(
        f"- {name}: {text}" for name, text in failures.items()
    )


# ---------------------------------------------------------------- explicit cases


def cursor(label: str) -> Raw:
    return next(c for c in CURSORS if c.label == f"cursor of {label}")


DATE_FIELDS = ["createdAfter", "createdBefore", "updatedAfter", "finishedAfter", "finishedBefore"]
CREATE_JOB = "mutation($i: CreateJobInput!) { createJob(input: $i) { jobId } }"
# (what, document, variables): each hostile value the fuzzing draws, sent on its own.
EXPLICIT: list[tuple[str, str, dict[str, Any]]] = [
    *(
        (f"jobs filter {field} {date}", "query($f: JobFilter) { jobs(filter: $f) { totalCount } }", {"f": {field: date}})
        for field in DATE_FIELDS
        for date in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
    ),
    *(
        (f"createJob {field} {date}", CREATE_JOB, {"i": {"pluginId": "jobgraph.noop", field: date}})
        for field in ("runAt", "expires")
        for date in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00")
    ),
    *(
        (
            f"jobs(orderBy: {order}) after a cursor of {label}",
            f"query($a: String) {{ jobs(orderBy: {order}, after: $a) {{ totalCount }} }}",
            {"a": cursor(label)},
        )
        for order, label in [
            ("NEWEST", "2^31"),
            ("NEWEST", "2^63"),
            ("OLDEST", "-2^63-1"),
            ("NEWEST", "5000 digits"),
            ("DISPATCH", "priority 2^31"),
            ("DISPATCH", "number 2^63"),
            ("RECENTLY_UPDATED", "year 1 at +14:00"),
            ("RECENTLY_UPDATED", "year 9999 at -14:00"),
            ("RECENTLY_UPDATED", "a date with NUL"),
            ("NEWEST", "a list nested 100000 deep"),
        ]
    ),
    *(
        (f"series(seriesUid: {text!r})", "query($u: String!) { series(seriesUid: $u) { seriesUid } }", {"u": text})
        for text in ("\x00", "\ud800", "1.2.840.1\x00")
    ),
    *(
        (
            f"createUser(email: {email!r})",
            "mutation($e: String!) { createUser(email: $e, privileges: []) { email } }",
            {"e": email},
        )
        for email in ("a\x00@example.com", "\ud800@example.com", "a@example.com\x00")
    ),
    (
        "registerPlugin with a pluginId of 1000 characters",
        "mutation($i: PluginInput!) { registerPlugin(input: $i) { pluginId } }",
        {"i": {"pluginId": "p" * 1000, "kind": "python", "entrypoint": "jobgraph.plugins.builtin:noop", "enabled": False}},
    ),
    (
        "registerSeries with a seriesUid of 1001 characters",
        "mutation($i: SeriesInput!) { registerSeries(input: $i) { seriesUid } }",
        {"i": {"seriesUid": "1." * 500 + "1"}},
    ),
    ("createJob with a queue of 1000 characters", CREATE_JOB, {"i": {"pluginId": "jobgraph.noop", "queue": "q" * 1000}}),
    ("createJob with an input nested 100 deep", CREATE_JOB, {"i": {"pluginId": "jobgraph.echo", "input": nested_list(100)}}),
    ("createJob with parents 2^31 and 2^63", CREATE_JOB, {"i": {"pluginId": "jobgraph.echo", "parents": [2**31, 2**63]}}),
    ("cancelJob(jobId: 2^63)", "mutation($id: ID!) { cancelJob(jobId: $id) { jobId } }", {"id": 2**63}),
    ("seriesList(first: a string literal)", '{ seriesList(first: "x") { seriesUid } }', {}),
    ("seriesList(first: a literal past 2^31)", "{ seriesList(first: 99999999999) { seriesUid } }", {}),
    ("seriesList(first: a String variable)", "query($n: String!) { seriesList(first: $n) { seriesUid } }", {"n": "1"}),
    # The same values written in the query text.
    ("series(seriesUid: a NUL literal)", '{ series(seriesUid: "\\u0000") { seriesUid } }', {}),
    ("series(seriesUid: a lone surrogate literal)", '{ series(seriesUid: "\\ud800") { seriesUid } }', {}),
    ("a lone surrogate in the query text", "{ series(seriesUid: \"\ud800\") { seriesUid } }", {}),
    (
        "createJob with an input literal nested 3000 deep",
        'mutation { createJob(input: {pluginId: "jobgraph.echo", input: ' + nested_list(3000).text + "}) { jobId } }",
        {},
    ),
    (
        "jobs(filter: {createdAfter: a year 1 at +14:00 literal})",
        '{ jobs(filter: {createdAfter: "0001-01-01T00:00:00+14:00"}) { totalCount } }',
        {},
    ),
]


def test_each_hostile_value_on_its_own_is_a_coded_refusal(any_api: Api) -> None:
    wrong = []
    for what, document, variables in EXPLICIT:
        try:
            check(any_api, document, variables, mutation=document.startswith("mutation"))
        except AssertionError as exc:
            wrong.append(f"{what}: {str(exc).splitlines()[0]}")
    assert not wrong, f"{len(wrong)} of {len(EXPLICIT)} answered badly:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "name",
    ["\x00", "\ud800", "A\x00", long_text(70_000)],
    ids=["NUL", "lone surrogate", "name then NUL", "70000 characters"],
)
def test_a_hostile_operation_name_is_a_coded_refusal(api: Api, name: Any) -> None:
    response = post(api, encode({"query": "query A { __typename }", "operationName": name}))
    assert not graphql_problems(response), response.text[:500]
    assert refused(response)
