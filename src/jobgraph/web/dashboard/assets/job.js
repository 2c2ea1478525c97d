// One job: everything about it, live (jobUpdated), and the actions the viewer may take.

import { ago, confirmDialog, field, formatNumber, h, json, progressBar, replace, statusBadge, time, toast } from "./dom.js";

const ENDED = ["finished", "failed", "cancelled", "invalidated"];
const LEVEL = { 1: "info", 2: "warning", 3: "error" };

function fields(ctx) {
  const reruns = ctx.has("Job.rerunOf") ? "rerunOf { jobId number status } reruns { jobId number status }" : "";
  return `jobId number status priority queue input attempts retries retried runAt expires lax notes result
    errorMessage worker runLevel cancelRequested createdAt updatedAt startedAt finishedAt pluginId progress
    plugin { pluginId name version feedbackSchema }
    user { email }
    series { seriesUid partialVolumeDescriptor { start end delta } series { modality description imageCount } }
    feedbacks { feedbackId isConsensual data actionLog createdAt user { email } }
    messages { status text toolId createdAt }
    outputs { id fileName size contentType url }
    parents { jobId number status pluginId }
    children { jobId number status pluginId }
    runBy { id host pid alive }
    ${reruns}`;
}

function jobLink(j) {
  return h("li", {}, h("a", { href: `#/job/${j.jobId}` }, `#${j.number}`), " ", statusBadge(j.status), j.pluginId ? ` ${j.pluginId}` : "");
}

function list(items, empty) {
  return items && items.length ? h("ul", { class: "links" }, items.map(jobLink)) : h("p", { class: "muted" }, empty);
}

export async function jobView(ctx, root, [jobId]) {
  const FIELDS = fields(ctx);
  const { job } = await ctx.api.query(`query($id: ID!) { job(jobId: $id) { ${FIELDS} } }`, { id: jobId });
  if (!job) {
    root.append(h("h1", {}, "No such job"), h("p", { class: "muted" }, `There is no job ${jobId}, or it is not yours to see.`));
    return null;
  }
  const head = h("div", { class: "toolbar" });
  const actions = h("div", { class: "actions", "aria-label": "Actions" });
  const summary = h("section", { class: "card" });
  const messages = h("section", { class: "card wide", "aria-label": "Messages" });
  const data = h("section", { class: "card wide" });
  const links = h("section", { class: "card" });
  const feedback = h("section", { class: "card wide", "aria-label": "Feedback" });
  const feedbackForm = h("div", {});
  root.append(head, actions, h("div", { class: "grid" }, summary, links, messages, data, feedback));

  async function act(label, doc, variables, { confirm = null, after = null } = {}) {
    if (confirm && !(await confirmDialog(label, confirm, label, { danger: label === "Delete" }))) return;
    try {
      const answer = await ctx.api.query(doc, variables);
      toast(`${label}: done`);
      if (after) after(answer);
    } catch (error) {
      toast(`${label}: ${error.message}`, "error");
    }
  }

  function renderActions(j) {
    const mine = ctx.canChange(j);
    const buttons = [];
    const id = { id: j.jobId };
    if (mine && (j.status === "queued" || j.status === "running") && !j.cancelRequested) {
      buttons.push(h("button", { type: "button", class: "danger", "data-action": "cancel", onclick: () => act("Cancel", "mutation($id: ID!) { cancelJob(jobId: $id) { jobId status } }", id) }, "Cancel"));
    }
    if (mine && j.status === "failed") {
      buttons.push(h("button", { type: "button", class: "primary", "data-action": "retry", onclick: () => act("Retry", "mutation($id: ID!) { retryJob(jobId: $id) { jobId status } }", id) }, "Retry"));
    }
    if (ctx.has("Mutation.rerunJob") && ctx.can("executePlugin")) {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            "data-action": "rerun",
            onclick: () =>
              act("Run again", "mutation($id: ID!) { rerunJob(jobId: $id) { jobId } }", id, {
                after: (answer) => ctx.go(`#/job/${answer.rerunJob.jobId}`),
              }),
          },
          "Run again",
        ),
      );
    }
    if (mine && j.status === "queued") {
      const input = h("input", { type: "number", step: "1", value: String(j.priority), "aria-label": "Priority", class: "narrow" });
      buttons.push(
        h(
          "form",
          {
            class: "inline",
            onsubmit: (event) => {
              event.preventDefault();
              act("Set priority", "mutation($id: ID!, $p: Int) { updateJob(jobId: $id, priority: $p) { jobId priority } }", { id: j.jobId, p: parseInt(input.value, 10) || 0 });
            },
          },
          input,
          h("button", { type: "submit", class: "secondary", "data-action": "priority" }, "Set priority"),
        ),
      );
    }
    if (ctx.can("manageJobs") && j.status === "finished") {
      buttons.push(h("button", { type: "button", class: "secondary", "data-action": "invalidate", onclick: () => act("Invalidate", "mutation($id: ID!) { invalidateJob(jobId: $id) { jobId status } }", id, { confirm: "Mark this job's result as invalid?" }) }, "Invalidate"));
    }
    if (mine && ENDED.includes(j.status)) {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "danger",
            "data-action": "delete",
            onclick: () => act("Delete", "mutation($id: ID!) { deleteJob(jobId: $id) }", id, { confirm: "Delete this job, its messages, outputs and feedback?", after: () => ctx.go("#/jobs") }),
          },
          "Delete",
        ),
      );
    }
    replace(actions, buttons.length ? buttons : h("span", { class: "muted" }, "No action is open to you on this job."));
  }

  function render(j) {
    replace(head, h("h1", {}, `Job #${j.number} `, statusBadge(j.status)), h("code", { class: "muted" }, j.jobId));
    renderActions(j);
    const attempt = j.status === "queued" && !j.startedAt ? j.retries : j.retries + 1;
    replace(
      summary,
      h("h2", {}, "Job"),
      h(
        "dl",
        { class: "facts" },
        field("plugin", h("a", { href: `#/plugins` }, j.pluginId), j.plugin && j.plugin.version ? ` ${j.plugin.version}` : ""),
        field("status", statusBadge(j.status), j.cancelRequested && !ENDED.includes(j.status) ? " (cancel asked)" : ""),
        field("progress", j.progress !== null ? progressBar(j.progress) : "—"),
        field("owner", j.user ? j.user.email : "—"),
        field("queue", j.queue),
        field("priority", String(j.priority)),
        field("attempt", `${Math.max(attempt, 0)} of ${j.attempts}`, j.retries ? ` (retried ${j.retries}×, last ${ago(j.retried)})` : ""),
        field("created", time(j.createdAt)),
        field("run at", time(j.runAt)),
        field("started", time(j.startedAt)),
        field("finished", time(j.finishedAt)),
        field("expires", time(j.expires)),
        field("worker", j.runBy ? `#${j.runBy.id} ${j.runBy.host}:${j.runBy.pid}${j.runBy.alive ? "" : " (gone)"}` : "—"),
        field("run level", j.runLevel),
      ),
      j.errorMessage ? h("div", { class: "error-box", "data-error": "" }, h("strong", {}, "Error: "), j.errorMessage) : "",
    );
    const errors = j.messages.filter((m) => m.status === 3);
    replace(
      messages,
      h("h2", {}, `Messages (${j.messages.length})`),
      j.messages.length
        ? h(
            "ol",
            { class: "messages" },
            j.messages.map((m) => h("li", { class: `msg msg-${LEVEL[m.status] || "info"}` }, h("time", { datetime: m.createdAt }, time(m.createdAt)), " ", h("span", { class: "level" }, LEVEL[m.status] || m.status), " ", m.text)),
          )
        : h("p", { class: "muted" }, "No message yet."),
      h("h3", {}, "Attempts and their errors"),
      h(
        "p",
        { class: "muted" },
        `${j.retries + (j.startedAt || ENDED.includes(j.status) ? 1 : 0)} attempt(s) so far, ${j.attempts} allowed. `,
        "The API keeps the latest error (above) and every error message a plugin or worker logged:",
      ),
      errors.length ? h("ul", { class: "attempt-errors" }, errors.map((m) => h("li", {}, h("time", {}, time(m.createdAt)), " ", m.text))) : h("p", { class: "muted" }, "No error logged."),
    );
    replace(
      data,
      h("h2", {}, "Input"),
      json(j.input),
      h("h2", {}, "Series"),
      j.series.length
        ? h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, ["series UID", "modality", "images", "partial volume"].map((t) => h("th", {}, t)))),
            h(
              "tbody",
              {},
              j.series.map((s) =>
                h(
                  "tr",
                  {},
                  h("td", {}, h("a", { href: `#/jobs?series=${encodeURIComponent(s.seriesUid)}` }, s.seriesUid)),
                  h("td", {}, s.series ? s.series.modality : "—"),
                  h("td", {}, s.series ? String(s.series.imageCount) : "—"),
                  h("td", {}, s.partialVolumeDescriptor ? `${s.partialVolumeDescriptor.start}–${s.partialVolumeDescriptor.end} every ${s.partialVolumeDescriptor.delta}` : "all"),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No series."),
      h("h2", {}, "Result"),
      j.result === null ? h("p", { class: "muted" }, ENDED.includes(j.status) ? "No result." : "Not yet.") : json(j.result),
      h("h2", {}, "Output files"),
      j.outputs.length
        ? h(
            "ul",
            { class: "outputs" },
            j.outputs.map((o) =>
              h(
                "li",
                {},
                h(
                  "a",
                  {
                    href: o.url,
                    "data-output": o.fileName,
                    onclick: (event) => {
                      event.preventDefault();
                      ctx.api.download(o.url, o.fileName).catch((error) => toast(error.message, "error"));
                    },
                  },
                  o.fileName,
                ),
                h("span", { class: "muted" }, ` ${formatNumber(o.size)} bytes · ${o.contentType}`),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No output file."),
      h("h2", {}, "Notes"),
      json(j.notes),
    );
    replace(
      links,
      h("h2", {}, "Parents"),
      list(j.parents, "No parent."),
      h("h2", {}, "Children"),
      list(j.children, "No child."),
      j.rerunOf !== undefined ? [h("h2", {}, "Runs of the same input"), j.rerunOf ? h("p", {}, "Run again from ", h("a", { href: `#/job/${j.rerunOf.jobId}` }, `#${j.rerunOf.number}`)) : "", list(j.reruns, "Not run again.")] : "",
    );
    replace(
      feedback,
      h("h2", {}, `Feedback (${j.feedbacks.length})`),
      j.feedbacks.length
        ? h(
            "ul",
            { class: "feedbacks" },
            j.feedbacks.map((f) => h("li", {}, h("strong", {}, f.isConsensual ? "consensual" : "personal"), ` by ${f.user ? f.user.email : "?"}, ${time(f.createdAt)}`, json(f.data))),
          )
        : h("p", { class: "muted" }, "No feedback."),
      feedbackForm,
    );
    renderFeedbackForm(j);
  }

  function renderFeedbackForm(j) {
    const personal = ctx.can("inputPersonalFeedback");
    const consensual = ctx.can("inputConsensualFeedback");
    if (j.status !== "finished" || !(personal || consensual)) return replace(feedbackForm);
    if (feedbackForm.firstChild) return null; // keep what is being typed
    const text = h("textarea", { name: "data", rows: 4, spellcheck: "false", placeholder: '{"score": 1}', "aria-label": "Feedback data (JSON)" });
    const kind = h(
      "select",
      { name: "kind", "aria-label": "Kind of feedback" },
      personal ? h("option", { value: "personal" }, "personal") : "",
      consensual ? h("option", { value: "consensual" }, "consensual") : "",
    );
    const form = h(
      "form",
      { class: "feedback-form" },
      h("h3", {}, "Give feedback"),
      j.plugin && j.plugin.feedbackSchema ? h("details", {}, h("summary", {}, "Feedback schema"), json(j.plugin.feedbackSchema)) : "",
      text,
      kind,
      h("button", { type: "submit", class: "primary" }, "Send feedback"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let value;
      try {
        value = text.value.trim() ? JSON.parse(text.value) : null;
      } catch {
        toast("Feedback data: that is not JSON.", "error");
        return;
      }
      await act("Feedback", "mutation($id: ID!, $input: FeedbackInput!) { addFeedback(jobId: $id, input: $input) { feedbackId } }", {
        id: j.jobId,
        input: { isConsensual: kind.value === "consensual", data: value },
      }, { after: () => (text.value = "") });
    });
    replace(feedbackForm, form);
    return null;
  }

  render(job);
  root.dataset.status = job.status;
  const stop = ctx.subs.subscribe(`subscription($id: ID!) { jobUpdated(jobId: $id) { ${FIELDS} } }`, { id: jobId }, {
    next: ({ jobUpdated }) => {
      render(jobUpdated);
      root.dataset.status = jobUpdated.status;
    },
    error: (errors) => toast(`Live updates stopped: ${(errors[0] || {}).message || "error"}`, "error"),
    complete: () => {
      root.dataset.status = "deleted";
      head.append(h("span", { class: "muted" }, " (deleted)"));
    },
  });
  return stop;
}
