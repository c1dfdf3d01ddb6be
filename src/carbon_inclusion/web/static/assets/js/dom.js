// Small DOM helpers shared by every view: elements, tables, forms, problems, formatting.
import { t, lang } from "./i18n.js";

/** h("div", {class: "x", onclick: f}, "text", child, [more children]) */
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && !svg) el.value = v;
    else if (k === "checked" && !svg) el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

/** el.append without the nulls (Node.append would write them as text). */
export function add(el, ...children) { append(el, children); return el; }

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- formatting: presentation only; the figures themselves are the API's ----

const locale = () => (lang() === "zh" ? "zh-CN" : "en-GB");

/** A decimal string or number shown with grouping, never re-rounded beyond `places`. */
export function num(value, places) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const opts = places === undefined ? { maximumFractionDigits: 3 } : { minimumFractionDigits: places, maximumFractionDigits: places };
  return n.toLocaleString(locale(), opts);
}

/** Grams as the most readable unit (g, kg, t), labelled. */
export function grams(g) {
  const n = Number(g);
  if (!Number.isFinite(n)) return String(g ?? "–");
  if (Math.abs(n) >= 1e6) return `${num(n / 1e6, 3)} t`;
  if (Math.abs(n) >= 1e3) return `${num(n / 1e3, 1)} kg`;
  return `${num(n, 1)} g`;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(locale(), { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

export function day(iso) { return iso ? String(iso).slice(0, 10) : "–"; }

export function badge(status) {
  return h("span", { class: `badge s-${status}` }, t(`status.${status}`));
}

// ---- problems ----

/** What an API error says, for people: 403 as "not allowed", fields listed. */
export function problemBox(err) {
  if (!err || err.status === undefined) {
    return h("div", { class: "problem", role: "alert" }, t("error.network"), " ", String(err?.message || err));
  }
  const head = err.status === 403 ? t("error.forbidden") : err.status === 401 ? t("error.unauthenticated")
    : err.status === 404 ? t("error.notfound") : (err.title || t("error.failed"));
  return h("div", { class: "problem", role: "alert", dataset: { status: err.status, code: err.code } },
    h("strong", {}, `${err.status} · ${head}`),
    err.code ? h("code", {}, err.code) : null,
    err.detail ? h("p", {}, err.detail) : null,
    err.errors?.length ? h("ul", {}, err.errors.map((e) => h("li", {}, h("code", {}, e.field), " ", e.message))) : null);
}

/** Runs an async action, showing its problem (if any) in `where`; returns its result or undefined. */
export async function attempt(where, action) {
  where.replaceChildren();
  try {
    return await action();
  } catch (err) {
    where.append(problemBox(err));
    return undefined;
  }
}

// ---- tables ----

/** columns: [{label, key | value(row), cell(row) -> node}] */
export function table(columns, rows, empty = t("list.empty")) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null },
      c.cell ? c.cell(r) : c.value ? c.value(r) : (r[c.key] ?? "–"))))))));
}

/** A cursor-paged list ({items, next_cursor}) with a "more" button. */
export function pagedTable(fetchPage, columns) {
  const box = h("div", { class: "paged" });
  const status = h("div");
  let rows = [];
  let cursor = null;
  const more = h("button", { type: "button", class: "secondary", onclick: () => load() }, t("list.more"));
  async function load() {
    const page = await attempt(status, () => fetchPage(cursor));
    if (!page) return;
    rows = rows.concat(page.items);
    cursor = page.next_cursor;
    box.replaceChildren(table(columns, rows), status, cursor ? more : "");
  }
  box.append(h("p", { class: "empty" }, t("list.loading")), status);
  load();
  return box;
}

// ---- forms ----

/**
 * fields: [{name, label, type: text|number|date|datetime-local|select|textarea|checkbox,
 *           options: [[value, label]], value, required, placeholder}]
 * onSubmit(values, form) may throw an ApiError: its errors[] are shown at their fields.
 */
export function form(fields, submitLabel, onSubmit, { id } = {}) {
  const problems = h("div", { class: "form-problem" });
  const inputs = {};
  const body = fields.map((f) => {
    let input;
    const common = { name: f.name, id: id ? `${id}-${f.name}` : null, required: f.required, placeholder: f.placeholder, step: f.step };
    if (f.type === "select") {
      input = h("select", common, f.options.map(([v, l]) => h("option", { value: v, selected: String(f.value ?? "") === String(v) }, l)));
    } else if (f.type === "textarea") {
      input = h("textarea", { ...common, rows: f.rows || 3 });
      input.value = f.value ?? "";
    } else if (f.type === "checkbox") {
      input = h("input", { ...common, type: "checkbox", checked: f.value });
    } else {
      input = h("input", { ...common, type: f.type || "text", value: f.value ?? "" });
    }
    inputs[f.name] = input;
    return h("label", { class: `field ${f.type === "checkbox" ? "check" : ""}`, dataset: { field: f.name } },
      h("span", {}, f.label), input, h("small", { class: "field-error" }));
  });
  const button = h("button", { type: "submit" }, submitLabel);
  const el = h("form", { class: "form", id }, body, h("div", { class: "actions" }, button), problems);
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const s of el.querySelectorAll(".field-error")) s.textContent = "";
    for (const s of el.querySelectorAll(".invalid")) s.classList.remove("invalid");
    problems.replaceChildren();
    const values = {};
    for (const f of fields) {
      const i = inputs[f.name];
      values[f.name] = f.type === "checkbox" ? i.checked : i.value;
    }
    button.disabled = true;
    try {
      await onSubmit(values, el);
    } catch (err) {
      showFieldErrors(el, err);
      problems.append(problemBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

/** Puts each error of a problem next to the field it names (data-field, or the nearest
 *  ancestor path that has one). */
export function showFieldErrors(root, err) {
  for (const e of err?.errors || []) {
    let path = String(e.field || "").replace(/^body\./, "");
    let target = null;
    while (path && !target) {
      target = root.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (!target) path = path.includes(".") || path.includes("[") ? path.replace(/(\.[^.[\]]*|\[\d+\])$/, "") : "";
    }
    if (!target) continue;
    target.classList.add("invalid");
    const slot = target.querySelector(":scope > .field-error") || target.querySelector(".field-error");
    if (slot) slot.textContent = (slot.textContent ? `${slot.textContent}; ` : "") + e.message;
  }
}

export function section(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

export function notice(text, kind = "ok") {
  return h("div", { class: `notice ${kind}`, role: "status" }, text);
}

/** Drops empty strings; turns the named fields into numbers. */
export function compact(values, numbers = []) {
  const out = {};
  for (const [k, v] of Object.entries(values)) {
    if (v === "" || v === undefined) continue;
    out[k] = numbers.includes(k) ? Number(v) : v;
  }
  return out;
}

export function csv(text) {
  return String(text || "").split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
}
