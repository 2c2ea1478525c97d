// Overview: counts by status and queue (queueStats, estimates flagged), the last hours as charts,
// workers alive with the jobs they run.

import { ago, barChart, duration, formatNumber, h, hbars, replace, statusBadge } from "./dom.js";

const HOURS = 12;
const STATUSES = ["queued", "running", "finished", "failed", "cancelled", "invalidated"];

const STATS = `{
  queueStats {
    total totalIsEstimate
    byStatus { status count isEstimate }
    byQueue { queue queued running isEstimate }
    workers { id host pid queues alive jobsRunning lastSeenAt }
  }
  running: jobs(filter: {status: [running]}, first: 100, orderBy: RECENTLY_UPDATED) {
    edges { node { jobId number pluginId worker progress startedAt } }
  }
}`;

// One count per hour and status: the API has no time series, so the chart asks for the number
// of jobs that ended in each hour (a filtered count, exact up to the server's limit, then
// estimated), once when the page opens and when asked, never on the live refresh.
function hourlyQuery(now) {
  const parts = [];
  for (let i = 0; i < HOURS; i++) {
    const end = new Date(now - i * 3600_000).toISOString();
    const begin = new Date(now - (i + 1) * 3600_000).toISOString();
    for (const [alias, status] of [["done", "finished"], ["failed", "failed"]]) {
      parts.push(
        `${alias}${i}: jobs(filter: {status: [${status}], finishedAfter: "${begin}", finishedBefore: "${end}"}, first: 0) { totalCount totalCountIsEstimate }`,
      );
    }
  }
  return `{ ${parts.join("\n")} }`;
}

// Wait time (start minus creation, or minus runAt when delayed) from the most recently updated
// jobs: a sample, as the API gives no aggregate of it.
const WAIT_SAMPLE = `query($since: DateTime) {
  jobs(filter: {updatedAfter: $since}, orderBy: RECENTLY_UPDATED, first: 500) {
    edges { node { createdAt runAt startedAt } }
  }
}`;

function hourLabel(now, i) {
  const d = new Date(now - i * 3600_000);
  return `${String(d.getHours()).padStart(2, "0")}h`;
}

export async function overviewView(ctx, root) {
  const counts = h("section", { class: "card", "aria-label": "Counts by status" });
  const queues = h("section", { class: "card", "aria-label": "Queues" });
  const charts = h("section", { class: "card wide charts", "aria-label": "The last hours" });
  const workers = h("section", { class: "card wide", "aria-label": "Workers" });
  root.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Overview"), h("button", { type: "button", class: "secondary", onclick: () => loadCharts() }, "Refresh charts")),
    h("div", { class: "grid" }, counts, queues, charts, workers),
  );

  async function loadStats() {
    const data = await ctx.api.query(STATS);
    const stats = data.queueStats;
    const byStatus = new Map(stats.byStatus.map((s) => [s.status, s]));
    replace(
      counts,
      h("h2", {}, "Jobs by status"),
      h("p", { class: "big", "data-total": stats.total }, formatNumber(stats.total), stats.totalIsEstimate ? " ≈" : "", h("span", { class: "muted" }, " jobs")),
      hbars(
        STATUSES.map((status) => ({
          label: h("a", { href: `#/jobs?status=${status}` }, statusBadge(status)),
          value: (byStatus.get(status) || {}).count || 0,
          estimate: (byStatus.get(status) || {}).isEstimate,
          cls: `fill-${status}`,
        })),
      ),
    );
    replace(
      queues,
      h("h2", {}, "Queues"),
      stats.byQueue.length
        ? h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, h("th", {}, "queue"), h("th", {}, "queued"), h("th", {}, "running"))),
            h(
              "tbody",
              {},
              stats.byQueue.map((q) =>
                h(
                  "tr",
                  { "data-queue": q.queue },
                  h("td", {}, h("a", { href: `#/jobs?queue=${encodeURIComponent(q.queue)}` }, q.queue)),
                  h("td", {}, formatNumber(q.queued), q.isEstimate ? " ≈" : ""),
                  h("td", {}, formatNumber(q.running)),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No job is queued or running."),
    );
    const runningBy = new Map();
    for (const { node } of data.running.edges) {
      if (!runningBy.has(node.worker)) runningBy.set(node.worker, []);
      runningBy.get(node.worker).push(node);
    }
    const alive = stats.workers.filter((w) => w.alive);
    replace(
      workers,
      h("h2", {}, `Workers alive: ${alive.length}`),
      alive.length
        ? h(
            "ul",
            { class: "workers" },
            alive.map((w) =>
              h(
                "li",
                { "data-worker": w.id },
                h("strong", {}, `#${w.id} ${w.host}:${w.pid}`),
                h("span", { class: "muted" }, ` queues ${w.queues.join(", ")} · seen ${ago(w.lastSeenAt)} · ${w.jobsRunning} running`),
                h(
                  "ul",
                  {},
                  (runningBy.get(w.id) || []).map((job) =>
                    h("li", {}, h("a", { href: `#/job/${job.jobId}` }, `#${job.number} ${job.pluginId}`), job.progress !== null ? ` ${Math.round(job.progress * 100)}%` : ""),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No worker is alive."),
    );
  }

  async function loadCharts() {
    const now = Date.now();
    replace(charts, h("h2", {}, `The last ${HOURS} hours`), h("p", { class: "muted" }, "Loading…"));
    const [hourly, sample] = await Promise.all([
      ctx.api.query(hourlyQuery(now)),
      ctx.api.query(WAIT_SAMPLE, { since: new Date(now - HOURS * 3600_000).toISOString() }),
    ]);
    const series = (letter) =>
      Array.from({ length: HOURS }, (_, k) => {
        const i = HOURS - 1 - k;
        const c = hourly[`${letter}${i}`];
        return { label: hourLabel(now, i), value: c.totalCount, title: `${hourLabel(now, i + 1)}–${hourLabel(now, i)}: ${formatNumber(c.totalCount)}${c.totalCountIsEstimate ? " (estimate)" : ""}` };
      });
    const waits = Array.from({ length: HOURS }, () => []);
    for (const { node } of sample.jobs.edges) {
      if (!node.startedAt) continue;
      const started = new Date(node.startedAt).getTime();
      const i = Math.floor((now - started) / 3600_000);
      if (i < 0 || i >= HOURS) continue;
      const from = Math.max(new Date(node.createdAt).getTime(), node.runAt ? new Date(node.runAt).getTime() : 0);
      waits[i].push(Math.max(0, (started - from) / 1000));
    }
    const median = (xs) => (xs.length ? xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);
    const waitBars = Array.from({ length: HOURS }, (_, k) => {
      const i = HOURS - 1 - k;
      return { label: hourLabel(now, i), value: median(waits[i]), title: `${hourLabel(now, i)}: median wait ${duration(median(waits[i]))} (${waits[i].length} jobs)` };
    });
    replace(
      charts,
      h("h2", {}, `The last ${HOURS} hours`),
      h(
        "div",
        { class: "chart-row" },
        h("figure", {}, barChart(series("done"), { cls: "chart-finished" }), h("figcaption", {}, "Throughput: jobs finished per hour")),
        h("figure", {}, barChart(series("failed"), { cls: "chart-failed" }), h("figcaption", {}, "Failures per hour")),
        h("figure", {}, barChart(waitBars, { cls: "chart-wait", unit: " s" }), h("figcaption", {}, "Median wait before start (of the latest 500 updated jobs)")),
      ),
    );
  }

  await loadStats();
  loadCharts().catch((error) => replace(charts, h("p", { class: "error-box" }, error.message)));
  const timer = setInterval(() => loadStats().catch(() => {}), 10000);
  return () => clearInterval(timer);
}
