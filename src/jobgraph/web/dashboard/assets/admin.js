// Plugins (their input schemas and defaults), queues (pause and resume), workers.

import { ago, confirmDialog, formatNumber, h, json, replace, time, toast } from "./dom.js";

function defaultsOf(schema) {
  const rows = [];
  const props = (schema && typeof schema === "object" && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  for (const [name, spec] of Object.entries(props)) {
    rows.push({ name, type: (spec && spec.type) || "any", required: required.has(name), default: spec && "default" in spec ? spec.default : undefined, description: (spec && spec.description) || "" });
  }
  return rows;
}

export async function pluginsView(ctx, root) {
  const { plugins } = await ctx.api.query(`{ plugins { pluginId name version description kind queue attempts timeout enabled inputSchema feedbackSchema isolation } }`);
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Plugins"), h("span", { class: "muted" }, `${plugins.length} registered`)));
  for (const p of plugins) {
    const defaults = defaultsOf(p.inputSchema);
    root.append(
      h(
        "section",
        { class: "card plugin", "data-plugin": p.pluginId },
        h("h2", {}, p.pluginId, " ", h("span", { class: "muted" }, `${p.name}${p.version ? ` ${p.version}` : ""}`), p.enabled ? "" : h("span", { class: "status status-cancelled" }, "disabled")),
        p.description ? h("p", {}, p.description) : "",
        h("p", { class: "muted" }, `${p.kind} · queue ${p.queue} · ${p.attempts} attempt(s) · timeout ${p.timeout ? `${p.timeout} s` : "none"}`, " · ", h("a", { href: `#/jobs?plugin=${encodeURIComponent(p.pluginId)}` }, "its jobs")),
        defaults.length
          ? h(
              "table",
              { class: "table" },
              h("thead", {}, h("tr", {}, ["input field", "type", "required", "default", "description"].map((t) => h("th", {}, t)))),
              h(
                "tbody",
                {},
                defaults.map((d) =>
                  h("tr", {}, h("td", {}, h("code", {}, d.name)), h("td", {}, String(d.type)), h("td", {}, d.required ? "yes" : ""), h("td", {}, d.default === undefined ? "—" : JSON.stringify(d.default)), h("td", {}, d.description)),
                ),
              ),
            )
          : h("p", { class: "muted" }, p.inputSchema ? "Its schema names no fields." : "Any input (no schema)."),
        p.inputSchema ? h("details", {}, h("summary", {}, "Input schema"), json(p.inputSchema)) : "",
        p.feedbackSchema ? h("details", {}, h("summary", {}, "Feedback schema"), json(p.feedbackSchema)) : "",
      ),
    );
  }
  return null;
}

export async function queuesView(ctx, root) {
  const box = h("div", {});
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Queues")), box);
  const control = ctx.has("Query.queues") && ctx.has("Mutation.pauseQueue");

  async function load() {
    if (!control) {
      const { queueStats } = await ctx.api.query(`{ queueStats { byQueue { queue queued running isEstimate } } }`);
      replace(
        box,
        h("p", { class: "muted" }, "This server cannot pause queues."),
        table(queueStats.byQueue.map((q) => ({ name: q.queue, queued: q.queued, running: q.running, paused: false }))),
      );
      return;
    }
    const { queues } = await ctx.api.query(`{ queues { name paused pausedAt pausedBy queued running } }`);
    replace(box, queues.length ? table(queues) : h("p", { class: "muted" }, "No queue yet."));
  }

  async function toggle(q) {
    const pausing = !q.paused;
    const ok = await confirmDialog(
      `${pausing ? "Pause" : "Resume"} queue ${q.name}`,
      pausing ? "Workers will take no new job from this queue until it is resumed; running jobs go on." : "Workers will take jobs from this queue again.",
      pausing ? "Pause" : "Resume",
    );
    if (!ok) return;
    const mutation = pausing ? "pauseQueue" : "resumeQueue";
    try {
      await ctx.api.query(`mutation($q: String!) { ${mutation}(queue: $q) { name paused } }`, { q: q.name });
      toast(`Queue ${q.name} ${pausing ? "paused" : "resumed"}.`);
    } catch (error) {
      toast(error.message, "error");
    }
    load();
  }

  function table(queues) {
    const mayControl = control && ctx.can("manageServer"); // pausing is for manageServer
    return h(
      "table",
      { class: "table queues" },
      h("thead", {}, h("tr", {}, ["queue", "state", "queued", "running", ""].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        queues.map((q) =>
          h(
            "tr",
            { "data-queue": q.name, "data-paused": q.paused ? "true" : "false" },
            h("td", {}, h("a", { href: `#/jobs?queue=${encodeURIComponent(q.name)}` }, q.name)),
            h("td", {}, q.paused ? h("span", { class: "status status-paused" }, "paused") : h("span", { class: "status status-running" }, "active"), q.paused && q.pausedAt ? h("span", { class: "muted" }, ` since ${time(q.pausedAt)}${q.pausedBy ? ` by ${q.pausedBy}` : ""}`) : ""),
            h("td", { class: "num" }, formatNumber(q.queued)),
            h("td", { class: "num" }, formatNumber(q.running)),
            h("td", {}, mayControl ? h("button", { type: "button", class: q.paused ? "primary" : "danger", "data-action": q.paused ? "resume" : "pause", onclick: () => toggle(q) }, q.paused ? "Resume" : "Pause") : ""),
          ),
        ),
      ),
    );
  }

  await load();
  const timer = setInterval(() => load().catch(() => {}), 10000);
  return () => clearInterval(timer);
}

export async function workersView(ctx, root) {
  const box = h("div", {});
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Workers")), box);
  async function load() {
    const { workers } = await ctx.api.query(`{ workers { id host pid queues startedAt lastSeenAt stoppedAt alive jobsRunning } }`);
    replace(
      box,
      workers.length
        ? h(
            "table",
            { class: "table workers" },
            h("thead", {}, h("tr", {}, ["#", "host", "pid", "queues", "state", "started", "last seen", "running"].map((t) => h("th", {}, t)))),
            h(
              "tbody",
              {},
              workers.map((w) =>
                h(
                  "tr",
                  { "data-worker": w.id },
                  h("td", {}, String(w.id)),
                  h("td", {}, w.host),
                  h("td", {}, String(w.pid)),
                  h("td", {}, w.queues.join(", ")),
                  h("td", {}, w.alive ? h("span", { class: "status status-running" }, "alive") : h("span", { class: "status status-cancelled" }, w.stoppedAt ? "stopped" : "gone")),
                  h("td", {}, time(w.startedAt)),
                  h("td", {}, ago(w.lastSeenAt)),
                  h("td", { class: "num" }, String(w.jobsRunning)),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No worker seen in the last day."),
    );
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 10000);
  return () => clearInterval(timer);
}
