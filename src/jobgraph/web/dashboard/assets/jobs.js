// Jobs: filters (kept in the address), keyset pages, live updates (jobEvents), selection, and
// bulk actions by selection or by filter with a preview before anything changes.

import { ago, confirmDialog, formatNumber, h, progressBar, replace, statusBadge, toast } from "./dom.js";

const PAGE = 50;
const STATUSES = ["queued", "running", "finished", "failed", "cancelled", "invalidated"];
const ORDERS = ["NEWEST", "OLDEST", "DISPATCH", "RECENTLY_UPDATED"];
const ROW = "jobId number status priority queue pluginId progress errorMessage createdAt updatedAt cancelRequested user { email }";

const LIST = `query Jobs($filter: JobFilter, $order: JobOrder!, $first: Int!, $after: String) {
  jobs(filter: $filter, orderBy: $order, first: $first, after: $after) {
    edges { cursor node { ${ROW} } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const COUNT = `query Count($filter: JobFilter) { jobs(filter: $filter, first: 0) { totalCount totalCountIsEstimate } }`;
const EVENTS = `subscription Events($filter: JobFilter) { jobEvents(filter: $filter) { kind jobId number status job { ${ROW} } } }`;

// What each bulk action applies to, for a selection (the server says it for a filter).
export const ACTIONS = {
  RETRY: { label: "Retry", mutation: "retryJob", applies: (j) => j.status === "failed" },
  CANCEL: { label: "Cancel", mutation: "cancelJob", applies: (j) => j.status === "queued" || j.status === "running" },
  DELETE: { label: "Delete", mutation: "deleteJob", applies: (j) => ["finished", "failed", "cancelled", "invalidated"].includes(j.status) },
  SET_PRIORITY: { label: "Set priority", mutation: "updateJob", applies: (j) => j.status === "queued" },
};

/** The GraphQL JobFilter the address describes (null: no filter). */
export function filterFrom(params) {
  const filter = {};
  const list = (name) => (params.get(name) || "").split(",").map((v) => v.trim()).filter(Boolean);
  if (list("status").length) filter.status = list("status");
  if (list("plugin").length) filter.pluginId = list("plugin");
  if (list("user").length) filter.userEmail = list("user");
  if (list("queue").length) filter.queue = list("queue");
  if (params.get("series")) filter.seriesUid = params.get("series");
  if (params.get("from")) filter.createdAfter = new Date(params.get("from")).toISOString();
  if (params.get("to")) filter.createdBefore = new Date(params.get("to")).toISOString();
  if (params.get("error")) filter.errorContains = params.get("error");
  if (params.get("input")) filter.inputContains = JSON.parse(params.get("input"));
  return Object.keys(filter).length ? filter : null;
}

function filterForm(ctx, params, plugins) {
  const statusBoxes = STATUSES.map((status) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "status", value: status, checked: (params.get("status") || "").split(",").includes(status) }), status),
  );
  const input = (name, label, attrs = {}) =>
    h("label", {}, h("span", {}, label), h("input", { name, value: params.get(name) || "", ...attrs }));
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filters" },
    h("fieldset", { class: "statuses" }, h("legend", {}, "Status"), statusBoxes),
    h(
      "label",
      {},
      h("span", {}, "Plugin"),
      h(
        "select",
        { name: "plugin" },
        h("option", { value: "" }, "any"),
        plugins.map((p) => h("option", { value: p.pluginId, selected: params.get("plugin") === p.pluginId }, p.pluginId)),
      ),
    ),
    input("user", "User (email)", { type: "text", placeholder: "a@b.org" }),
    input("queue", "Queue", { type: "text" }),
    input("series", "Series UID", { type: "text" }),
    input("from", "Created after", { type: "datetime-local" }),
    input("to", "Created before", { type: "datetime-local" }),
    input("error", "Text in the error", { type: "search" }),
    h(
      "label",
      { class: "wide" },
      h("span", {}, "Input contains (JSON)"),
      h("input", { name: "input", value: params.get("input") || "", placeholder: '{"case": 7}', spellcheck: "false" }),
    ),
    h(
      "label",
      {},
      h("span", {}, "Order"),
      h("select", { name: "order" }, ORDERS.map((o) => h("option", { value: o, selected: (params.get("order") || "NEWEST") === o }, o.toLowerCase().replace("_", " ")))),
    ),
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), h("a", { href: "#/jobs", class: "button secondary" }, "Clear")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    const statuses = data.getAll("status");
    if (statuses.length) next.set("status", statuses.join(","));
    for (const name of ["plugin", "user", "queue", "series", "from", "to", "error", "input"]) {
      const value = String(data.get(name) || "").trim();
      if (value) next.set(name, value);
    }
    if (next.get("input")) {
      try {
        JSON.parse(next.get("input"));
      } catch {
        toast("Input contains: that is not JSON.", "error");
        return;
      }
    }
    if (data.get("order") && data.get("order") !== "NEWEST") next.set("order", data.get("order"));
    ctx.go(`#/jobs?${next}`);
  });
  return form;
}

export async function jobsView(ctx, root, _args, params) {
  let filter;
  try {
    filter = filterFrom(params);
  } catch {
    filter = null;
    toast("The filter's input JSON is not valid: ignored.", "error");
  }
  const order = ORDERS.includes(params.get("order")) ? params.get("order") : "NEWEST";
  const { plugins } = await ctx.api.query("{ plugins { pluginId } }");
  const cursors = [null]; // the `after` of each page seen, for Back
  const rows = new Map(); // jobId -> {job, tr}
  const selected = new Set();
  const tbody = h("tbody", {});
  const countBox = h("span", { class: "count", "data-count": "" }, h("button", { type: "button", class: "link", onclick: count }, "Count matching jobs"));
  const pager = h("div", { class: "pager" });
  const liveNote = h("span", { class: "muted live-note" });
  const selectionBar = h("div", { class: "bulk selection", hidden: true });
  const allBox = h("input", { type: "checkbox", "aria-label": "Select every job on this page", onchange: () => selectAll(allBox.checked) });

  async function count() {
    replace(countBox, "Counting…");
    try {
      const { jobs } = await ctx.api.query(COUNT, { filter });
      replace(countBox, h("strong", { "data-total": jobs.totalCount }, formatNumber(jobs.totalCount)), jobs.totalCountIsEstimate ? " (estimate)" : "", " jobs match");
    } catch (error) {
      replace(countBox, error.message);
    }
  }

  function rowOf(job) {
    const box = h("input", {
      type: "checkbox",
      "aria-label": `Select job ${job.number}`,
      checked: selected.has(job.jobId),
      onchange: () => {
        if (box.checked) selected.add(job.jobId);
        else selected.delete(job.jobId);
        showSelection();
      },
    });
    return h(
      "tr",
      { "data-job-id": job.jobId, "data-status": job.status },
      h("td", {}, box),
      h("td", {}, h("a", { href: `#/job/${job.jobId}` }, `#${job.number}`)),
      h("td", {}, statusBadge(job.status), job.cancelRequested && job.status === "running" ? h("span", { class: "muted" }, " cancelling") : ""),
      h("td", {}, job.pluginId),
      h("td", {}, job.queue),
      h("td", { class: "num" }, String(job.priority)),
      h("td", {}, job.user ? job.user.email : "—"),
      h("td", { title: job.createdAt }, ago(job.createdAt)),
      h("td", {}, job.status === "running" && job.progress !== null ? progressBar(job.progress) : ""),
      h("td", { class: "error-cell" }, job.status === "failed" && job.errorMessage ? h("span", { class: "error-text", title: job.errorMessage }, job.errorMessage) : ""),
    );
  }

  // The newest state each job was seen in by the live feed: a page read that answers after
  // later events must not show a job older than it is.
  const seen = new Map();
  const newer = (a, b) => (b && new Date(b.updatedAt) >= new Date(a.updatedAt) ? b : a);

  function put(job, { prepend = false } = {}) {
    tbody.querySelector("tr.empty")?.remove();
    const known = rows.get(job.jobId);
    const tr = rowOf(job);
    if (known) known.tr.replaceWith(tr);
    else if (prepend) tbody.prepend(tr);
    else tbody.append(tr);
    rows.set(job.jobId, { job, tr });
    if (prepend) tr.classList.add("fresh");
  }

  async function load(after) {
    const { jobs } = await ctx.api.query(LIST, { filter, order, first: PAGE, after });
    rows.clear();
    replace(tbody);
    for (const { node } of jobs.edges) put(newer(node, seen.get(node.jobId)));
    if (!jobs.edges.length) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: 10, class: "muted" }, "No job matches.")));
    allBox.checked = false;
    const page = cursors.length;
    replace(
      pager,
      h("button", { type: "button", class: "secondary", disabled: page <= 1, onclick: () => (cursors.pop(), load(cursors[cursors.length - 1])) }, "← Newer"),
      h("span", { class: "muted" }, ` page ${page} `),
      h(
        "button",
        { type: "button", class: "secondary", disabled: !jobs.pageInfo.hasNextPage, onclick: () => (cursors.push(jobs.pageInfo.endCursor), load(jobs.pageInfo.endCursor)) },
        "Older →",
      ),
    );
  }

  function selectAll(on) {
    for (const [jobId, { tr }] of rows) {
      const box = tr.querySelector("input[type=checkbox]");
      box.checked = on;
      if (on) selected.add(jobId);
      else selected.delete(jobId);
    }
    showSelection();
  }

  function showSelection() {
    selectionBar.hidden = selected.size === 0;
    replace(
      selectionBar,
      h("strong", {}, `${selected.size} selected: `),
      Object.entries(ACTIONS).map(([action, spec]) =>
        h("button", { type: "button", class: action === "DELETE" ? "danger" : "secondary", "data-bulk-selection": action, onclick: () => bySelection(action) }, spec.label),
      ),
      h("button", { type: "button", class: "link", onclick: () => selectAll(false) }, "clear"),
    );
  }

  async function askPriority() {
    const field = h("input", { type: "number", name: "priority", value: "0", step: "1", "aria-label": "New priority" });
    return { field, body: h("label", {}, "New priority (higher runs first): ", field) };
  }

  async function bySelection(action) {
    const spec = ACTIONS[action];
    const jobs = [...selected].map((id) => rows.get(id)?.job).filter(Boolean);
    const applicable = jobs.filter(spec.applies).filter((j) => ctx.canChange(j));
    const prio = action === "SET_PRIORITY" ? await askPriority() : null;
    const ok = await confirmDialog(
      `${spec.label}: ${jobs.length} selected jobs`,
      h("div", {}, h("p", { "data-preview": "selection" }, `${applicable.length} of the ${jobs.length} selected jobs can be changed; the others are skipped.`), prio ? prio.body : ""),
      `${spec.label} ${applicable.length} jobs`,
      { danger: action === "DELETE" },
    );
    if (!ok || !applicable.length) return;
    const args = action === "SET_PRIORITY" ? `, priority: ${parseInt(prio.field.value, 10) || 0}` : "";
    const picks = action === "DELETE" ? "" : " { jobId status }";
    let done = 0;
    const failures = [];
    for (let i = 0; i < applicable.length; i += 25) {
      const chunk = applicable.slice(i, i + 25);
      const doc = `mutation { ${chunk.map((j, k) => `j${k}: ${spec.mutation}(jobId: ${JSON.stringify(j.jobId)}${args})${picks}`).join("\n")} }`;
      try {
        await ctx.api.query(doc);
        done += chunk.length;
      } catch (error) {
        const data = error.data || {};
        done += Object.values(data).filter(Boolean).length;
        failures.push(error.message);
      }
    }
    toast(`${spec.label}: ${done} jobs done${failures.length ? `; refused: ${failures.join("; ")}` : ""}`, failures.length ? "error" : "info");
    selected.clear();
    showSelection();
    load(cursors[cursors.length - 1]);
  }

  async function byFilter(action) {
    const spec = ACTIONS[action];
    let preview;
    try {
      ({ bulkPreview: preview } = await ctx.api.query(
        `query($action: BulkAction!, $filter: JobFilter!) { bulkPreview(action: $action, filter: $filter) { action matching applicable cap isEstimate } }`,
        { action, filter: filter || {} },
      ));
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    const prio = action === "SET_PRIORITY" ? await askPriority() : null;
    const capped = preview.applicable > preview.cap;
    const ok = await confirmDialog(
      `${spec.label} every job the filter selects`,
      h(
        "div",
        { "data-preview": "filter" },
        h("p", {}, h("strong", { "data-matching": preview.matching }, formatNumber(preview.matching)), preview.isEstimate ? " (estimate)" : "", " jobs match the filter; ", h("strong", { "data-applicable": preview.applicable }, formatNumber(preview.applicable)), ` can be changed (${spec.label.toLowerCase()}).`),
        capped ? h("p", { class: "warning" }, `At most ${formatNumber(preview.cap)} are changed at once (the oldest first): run it again for the rest.`) : "",
        h("p", { class: "muted" }, "Filter: ", h("code", {}, JSON.stringify(filter || {}))),
        prio ? prio.body : "",
      ),
      `${spec.label} ${formatNumber(Math.min(preview.applicable, preview.cap))} jobs`,
      { danger: action === "DELETE" },
    );
    if (!ok) return;
    try {
      const variables = { action, filter: filter || {}, priority: prio ? parseInt(prio.field.value, 10) || 0 : null, limit: capped ? preview.cap : null };
      const { bulkAction } = await ctx.api.query(
        `mutation($action: BulkAction!, $filter: JobFilter!, $priority: Int, $limit: Int) { bulkAction(action: $action, filter: $filter, priority: $priority, limit: $limit) { action applied skipped auditId } }`,
        variables,
      );
      toast(`${spec.label}: ${bulkAction.applied} jobs changed, ${bulkAction.skipped} skipped (audit ${bulkAction.auditId}).`);
    } catch (error) {
      toast(error.message, "error");
    }
    load(cursors[cursors.length - 1]);
  }

  const bulkByFilter = ctx.has("Mutation.bulkAction")
    ? h(
        "div",
        { class: "bulk by-filter" },
        h("span", {}, "Every job the filter selects: "),
        Object.entries(ACTIONS).map(([action, spec]) =>
          h("button", { type: "button", class: action === "DELETE" ? "danger" : "secondary", "data-bulk-filter": action, onclick: () => byFilter(action) }, spec.label),
        ),
      )
    : "";

  root.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Jobs"), countBox, liveNote),
    filterForm(ctx, params, plugins),
    bulkByFilter,
    selectionBar,
    h(
      "table",
      { class: "table jobs" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, allBox),
          ["#", "status", "plugin", "queue", "priority", "user", "created", "progress", "latest error"].map((t) => h("th", {}, t)),
        ),
      ),
      tbody,
    ),
    pager,
  );
  // Live: rows on this page change in place; new jobs appear on top of the first page. The feed
  // opens before the first read; after a reconnect the page is read again (events were missed).
  let started = false;
  const stop = ctx.subs.subscribe(EVENTS, { filter }, {
    started: () => {
      if (started) load(cursors[cursors.length - 1]).catch(() => {});
      started = true;
    },
    next: ({ jobEvents: event }) => {
      if (event.job) {
        if (seen.size > 5000) seen.clear();
        seen.set(event.jobId, event.job);
      }
      const known = rows.get(event.jobId);
      if (event.kind === "deleted") {
        if (known) {
          known.tr.classList.add("deleted");
          known.tr.dataset.status = "deleted";
        }
        return;
      }
      if (!event.job) return;
      if (known) put(event.job);
      else if (event.kind === "created" && cursors.length === 1 && order === "NEWEST") put(event.job, { prepend: true });
      liveNote.textContent = `updated ${new Date().toLocaleTimeString()}`;
    },
    error: (errors) => {
      liveNote.textContent = `live updates stopped: ${(errors[0] || {}).message || "error"}`;
    },
  });
  try {
    await load(null);
  } catch (error) {
    stop();
    throw error;
  }
  return stop;
}
