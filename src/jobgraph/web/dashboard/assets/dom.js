// DOM helpers. Every value from the server goes into the page as text (textContent, attribute
// values): never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed by the page's CSP
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" && "checked" in el) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("a", {href: "#/x", class: "c"}, "text", otherNode) */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  return append(clear(el), children);
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function ago(iso) {
  if (!iso) return "—";
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  return `${duration(Math.abs(seconds))} ${seconds >= 0 ? "ago" : "from now"}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function json(value) {
  return h("pre", { class: "json" }, value === undefined ? "" : JSON.stringify(value, null, 2));
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function field(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** A bar chart as inline SVG: bars = [{label, value, title?}], one colour class. */
export function barChart(bars, { height = 120, unit = "", cls = "" } = {}) {
  const width = 28 * Math.max(bars.length, 1) + 40;
  const max = Math.max(1, ...bars.map((b) => b.value || 0));
  const inner = height - 30;
  const svg = s("svg", {
    class: `chart ${cls}`,
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
  });
  svg.append(s("text", { x: 2, y: 10, class: "axis" }, `${formatNumber(max)}${unit}`));
  svg.append(s("line", { x1: 36, x2: width, y1: 14, y2: 14, class: "grid" }));
  svg.append(s("line", { x1: 36, x2: width, y1: 14 + inner, y2: 14 + inner, class: "grid" }));
  bars.forEach((bar, i) => {
    const value = bar.value || 0;
    const barHeight = Math.round((value / max) * inner);
    const x = 40 + i * 28;
    svg.append(
      s(
        "rect",
        { x, y: 14 + inner - barHeight, width: 22, height: Math.max(barHeight, value ? 1 : 0), class: "bar" },
        s("title", {}, bar.title || `${bar.label}: ${formatNumber(value)}${unit}`),
      ),
    );
    if (i % 2 === 0 || bars.length <= 12) svg.append(s("text", { x: x + 11, y: height - 2, class: "label" }, bar.label));
  });
  return svg;
}

/** Horizontal bars for categories: [{label, value, cls}] */
export function hbars(rows) {
  const max = Math.max(1, ...rows.map((r) => r.value || 0));
  return h(
    "div",
    { class: "hbars" },
    rows.map((r) =>
      h(
        "div",
        { class: "hbar-row" },
        h("span", { class: "hbar-label" }, r.label),
        h(
          "span",
          { class: "hbar-track" },
          h("span", { class: `hbar-fill ${r.cls || ""}`, style: { width: `${Math.round((100 * (r.value || 0)) / max)}%` } }),
        ),
        h("span", { class: "hbar-value" }, `${formatNumber(r.value)}${r.estimate ? " ≈" : ""}`),
      ),
    ),
  );
}

export function formatNumber(n) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString();
}

export function progressBar(fraction) {
  const pct = Math.max(0, Math.min(100, Math.round((fraction || 0) * 100)));
  return h(
    "span",
    { class: "progress", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
    h("span", { class: "progress-fill", style: { width: `${pct}%` } }),
    h("span", { class: "progress-text" }, `${pct}%`),
  );
}

/** A modal dialog: resolves true on confirm, false on cancel. */
export function confirmDialog(title, body, confirmLabel = "Confirm", { danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-label": title },
      h("h2", {}, title),
      h("div", { class: "dialog-body" }, body),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "secondary", "data-dialog": "cancel", onclick: () => dialog.close("cancel") }, "Cancel"),
        h(
          "button",
          { type: "button", class: danger ? "danger" : "primary", "data-dialog": "confirm", onclick: () => dialog.close("confirm") },
          confirmLabel,
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
