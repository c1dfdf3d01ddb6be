// Charts as inline SVG, drawn from figures the API gave: no library, nothing fetched.
import { h } from "./dom.js";

export const PALETTE = ["#1f7a4d", "#3b82c4", "#e0a030", "#c4513b", "#7a5cc4", "#2bb0a8",
  "#9aa83a", "#d0609c", "#6b7280", "#a0522d"];

const W = 720;
const H = 260;
const PAD = { l: 64, r: 12, t: 12, b: 44 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

function tickLabel(c, room) {
  const s = String(c);
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) return s.slice(5, 10);
  const fit = Math.max(3, Math.floor(room / 7));
  return s.length > fit ? `${s.slice(0, fit - 1)}…` : s;
}

function legend(series) {
  return h("ul", { class: "legend" }, series.map((s, i) => h("li", {},
    h("svg:svg", { width: 12, height: 12, "aria-hidden": "true" },
      h("svg:rect", { width: 12, height: 12, rx: 2, fill: s.color || PALETTE[i % PALETTE.length] })),
    s.name)));
}

/**
 * Bars per category (e.g. day), one segment per series, stacked or side by side.
 * categories: ["2026-11-01", ...]; series: [{name, values: [number per category]}]
 */
export function barChart({ categories, series, stacked = true, unit = "", title = "" }) {
  const n = categories.length || 1;
  const totals = categories.map((_, i) => stacked
    ? series.reduce((a, s) => a + Math.max(0, s.values[i] || 0), 0)
    : Math.max(0, ...series.map((s) => s.values[i] || 0)));
  const max = niceMax(Math.max(0, ...totals));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const slot = iw / n;
  const bw = Math.min(60, Math.max(2, slot * 0.7));
  const y = (v) => PAD.t + ih - (v / max) * ih;
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(h("svg:line", { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), stroke: "#e5e7eb" }),
      h("svg:text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, short(v)));
  }
  const every = Math.ceil(n / 10);
  categories.forEach((c, i) => {
    const x0 = PAD.l + i * slot + (slot - bw) / 2;
    let base = 0;
    series.forEach((s, j) => {
      const v = Math.max(0, s.values[i] || 0);
      if (!v) return;
      const fill = s.color || PALETTE[j % PALETTE.length];
      const w = stacked ? bw : bw / series.length;
      const x = stacked ? x0 : x0 + j * w;
      const top = stacked ? base + v : v;
      const rect = h("svg:rect", { x, y: y(top), width: Math.max(1, w - (stacked ? 0 : 1)), height: Math.max(0.5, y(stacked ? base : 0) - y(top)), fill });
      rect.append(h("svg:title", {}, `${c} · ${s.name}: ${v}${unit ? ` ${unit}` : ""}`));
      svg.append(rect);
      if (stacked) base += v;
    });
    if (i % every === 0) {
      svg.append(h("svg:text", { x: x0 + bw / 2, y: H - PAD.b + 16, "text-anchor": "middle", class: "tick" }, tickLabel(c, slot * every)));
    }
  });
  const caption = [title, unit ? `(${unit})` : ""].filter(Boolean).join(" ");
  return h("figure", { class: "chart-box" }, caption ? h("figcaption", {}, caption) : null, svg, legend(series));
}

/** Horizontal bars: items [{label, value, text}] largest first as given. */
export function hBars(items, { unit = "", title = "" } = {}) {
  const max = niceMax(Math.max(0, ...items.map((i) => Number(i.value) || 0)));
  const rowH = 26;
  // The label column fits the longest label (a CJK character is about twice a Latin one).
  const width = (text) => [...String(text)].reduce((a, c) => a + (c.charCodeAt(0) > 0x2e80 ? 15 : 8.5), 0);
  const lw = Math.min(300, Math.max(80, Math.max(0, ...items.map((i) => width(i.label))) + 16));
  const height = Math.max(rowH, items.length * rowH) + 8;
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${height}`, class: "chart", role: "img", "aria-label": title });
  items.forEach((it, i) => {
    const v = Math.max(0, Number(it.value) || 0);
    const w = ((W - lw - 150) * v) / max;
    const yy = 4 + i * rowH;
    svg.append(h("svg:text", { x: lw - 8, y: yy + 16, "text-anchor": "end", class: "label" }, it.label),
      h("svg:rect", { x: lw, y: yy + 3, width: Math.max(1, w), height: rowH - 8, rx: 3, fill: it.color || PALETTE[i % PALETTE.length] }),
      h("svg:text", { x: lw + w + 6, y: yy + 16, class: "label" }, it.text ?? `${short(v)}${unit ? ` ${unit}` : ""}`));
  });
  return h("figure", { class: "chart-box" }, title ? h("figcaption", {}, title) : null, svg);
}

/** Turns rows [{day, key, <metric>}] into categories and series for barChart. */
export function pivot(rows, metric, { keyOf = (r) => r.key, nameOf = (k) => k, top = 0, other = "…" } = {}) {
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const totals = new Map();
  for (const r of rows) totals.set(keyOf(r), (totals.get(keyOf(r)) || 0) + (Number(r[metric]) || 0));
  let keys = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  // Past `top` keys, the rest are drawn as one series (a chart of 38 colours reads as none).
  const rest = top && keys.length > top + 1 ? new Set(keys.slice(top)) : new Set();
  if (rest.size) keys = keys.slice(0, top);
  const at = new Map();
  for (const r of rows) {
    const k = rest.has(keyOf(r)) ? "\u0000rest" : keyOf(r);
    at.set(`${r.day}|${k}`, (at.get(`${r.day}|${k}`) || 0) + (Number(r[metric]) || 0));
  }
  const series = keys.map((k) => ({ name: nameOf(k), values: days.map((d) => at.get(`${d}|${k}`) || 0) }));
  if (rest.size) series.push({ name: other, color: "#9ca3af", values: days.map((d) => at.get(`${d}|\u0000rest`) || 0) });
  return { categories: days, series };
}
