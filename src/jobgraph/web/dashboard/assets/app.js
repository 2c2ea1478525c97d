// The dashboard's shell: sign-in, what the server offers (features) and the viewer may do
// (privileges), and hash routing to the views.

import { Api, Subscriptions } from "./gql.js";
import { h, replace, toast } from "./dom.js";
import { overviewView } from "./overview.js";
import { jobsView } from "./jobs.js";
import { jobView } from "./job.js";
import { pluginsView, queuesView, workersView } from "./admin.js";

const api = new Api();
const live = document.getElementById("live");
const subs = new Subscriptions("/graphql", (state) => {
  live.textContent = state === "live" ? "● live" : state === "closed" ? "" : `○ ${state}`;
  live.dataset.state = state;
});

const ROUTES = {
  overview: overviewView,
  jobs: jobsView,
  job: jobView,
  plugins: pluginsView,
  queues: queuesView,
  workers: workersView,
};

const FEATURES = `{
  me { email privileges }
  q: __type(name: "Query") { fields { name } }
  m: __type(name: "Mutation") { fields { name } }
  j: __type(name: "Job") { fields { name } }
}`;

let ctx = null;
let cleanup = null;
let generation = 0; // the latest route wins: a slower earlier view never replaces it

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [name, ...rest] = path.split("/");
  return { name: name || "overview", args: rest.map(decodeURIComponent), params: new URLSearchParams(query) };
}

async function route() {
  if (!ctx) return;
  if (cleanup) cleanup();
  cleanup = null;
  const mine = ++generation;
  const { name, args, params } = parseHash();
  const view = ROUTES[name] || overviewView;
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === name || (name === "job" && link.dataset.view === "jobs"));
  }
  const main = document.getElementById("main");
  replace(main, h("p", { class: "muted" }, "Loading…"));
  const root = h("div", { class: `view view-${name}`, "data-view": name });
  try {
    const stop = (await view(ctx, root, args, params)) || null;
    if (mine !== generation) {
      if (stop) stop();
      return;
    }
    cleanup = stop;
    replace(main, root);
  } catch (error) {
    if (mine === generation) replace(main, h("div", { class: "error-box", role: "alert" }, error.message || String(error)));
  }
}

async function start(session) {
  let data;
  try {
    data = await api.query(FEATURES);
  } catch (error) {
    return showSignIn(error.message);
  }
  const has = new Set();
  for (const [prefix, type] of [["Query", data.q], ["Mutation", data.m], ["Job", data.j]]) {
    for (const f of (type && type.fields) || []) has.add(`${prefix}.${f.name}`);
  }
  const privileges = new Set(data.me.privileges);
  ctx = {
    api,
    subs,
    me: data.me,
    has: (name) => has.has(name),
    can: (privilege) => privileges.has(privilege) || privileges.has("manageServer"),
    go: (hash) => {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    refresh: () => route(),
  };
  ctx.canChange = (job) => ctx.can("manageJobs") || (job.user && job.user.email === ctx.me.email);
  document.getElementById("signin").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = data.me.email;
  route();
}

function showSignIn(message) {
  ctx = null;
  if (cleanup) cleanup();
  cleanup = null;
  subs.close();
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  replace(document.getElementById("main"));
  const box = document.getElementById("signin");
  box.hidden = false;
  const error = document.getElementById("signin-error");
  error.textContent = message || "";
  error.hidden = !message;
  document.getElementById("token").focus();
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  try {
    const session = await api.signIn(input.value.trim());
    input.value = "";
    await start(session);
  } catch (error) {
    showSignIn(error.message);
  }
});

document.getElementById("signout").addEventListener("click", async () => {
  await api.signOut();
  showSignIn("Signed out.");
});

api.onSignedOut = () => {
  if (ctx) {
    toast("Your session ended: sign in again.", "error");
    showSignIn("Your session ended: sign in again.");
  }
};

window.addEventListener("hashchange", route);

(async () => {
  const session = await api.current().catch(() => null);
  if (session) await start(session);
  else showSignIn("");
})();
