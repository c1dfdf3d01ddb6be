// One methodology version: the document as a form (every value at its dotted path, so the
// checker's errors show at their field), save (PUT: the API checks it), simulate with a
// chart, publish, retire. The document's structure can also be edited as JSON.
import * as api from "../../api.js";
import { h, clear, section, attempt, badge, when, problemBox, showFieldErrors, notice, num, table, form } from "../../dom.js";
import { barChart } from "../../chart.js";
import { t, pick } from "../../i18n.js";

function leaf(path, value, onChange, editable) {
  const kind = typeof value;
  let input;
  if (kind === "boolean") {
    input = h("input", { type: "checkbox", checked: value, disabled: !editable, onchange: (e) => onChange(e.target.checked) });
  } else {
    const long = kind === "string" && value.length > 60;
    input = h(long ? "textarea" : "input", { disabled: !editable, rows: long ? 2 : null, "data-path": path,
      oninput: (e) => onChange(kind === "number" && e.target.value.trim() !== "" && !Number.isNaN(Number(e.target.value)) ? Number(e.target.value) : (value === null && e.target.value === "" ? null : e.target.value)) });
    input.value = value === null ? "" : String(value);
  }
  const name = path.split(".").pop();
  return h("label", { class: "field doc", dataset: { field: path } }, h("span", {}, name), input, h("small", { class: "field-error" }));
}

function tree(obj, path, set, editable) {
  const at = (k) => (path ? `${path}.${k}` : k);
  const box = h(path ? "fieldset" : "div", { class: "doc-node", dataset: path ? { field: path } : {} },
    path ? h("legend", {}, path.split(".").pop()) : null, path ? h("small", { class: "field-error" }) : null);
  const entries = Array.isArray(obj) ? obj.map((v, i) => [i, v]) : Object.entries(obj);
  for (const [k, v] of entries) {
    const p = Array.isArray(obj) ? `${path}[${k}]` : at(k);
    const assign = (nv) => { obj[k] = nv; set(); };
    if (v !== null && typeof v === "object") box.append(tree(v, p, set, editable));
    else box.append(leaf(p, v, assign, editable));
  }
  return box;
}

export default async function methodology(main, { params }) {
  const path = `/v1/admin/methodologies/${encodeURIComponent(params.code)}/versions/${params.version}`;
  let version = await api.get(path);
  let doc = structuredClone(version.document);
  const status = h("div", { id: "meth-status" });
  const head = h("div");
  const editor = h("div", { id: "doc-form" });
  const json = h("textarea", { id: "doc-json", rows: 18, class: "mono" });
  const simOut = h("div", { id: "sim-out" });

  function drawHead() {
    head.replaceChildren(
      h("h1", {}, `${version.code} v${version.version} · ${pick(version.title)}`),
      h("p", {}, badge(version.status), " ", t("field.in_force"), ": ", when(version.in_force_from), " – ", version.in_force_to ? when(version.in_force_to) : "…",
        version.published_at ? [" · ", t("meth.published"), " ", when(version.published_at)] : null),
      h("p", { class: "muted mono" }, `sha256 ${version.sha256}`));
  }
  const draft = () => version.status === "draft";
  function drawEditor() {
    editor.replaceChildren(tree(doc, "", () => { json.value = JSON.stringify(doc, null, 2); }, draft()));
    json.value = JSON.stringify(doc, null, 2);
    json.disabled = !draft();
  }
  json.addEventListener("change", () => {
    try { doc = JSON.parse(json.value); drawEditor(); status.replaceChildren(); } catch (e) { status.replaceChildren(notice(`JSON: ${e.message}`, "bad")); }
  });

  async function save() {
    status.replaceChildren();
    for (const el of main.querySelectorAll(".invalid")) el.classList.remove("invalid");
    for (const el of main.querySelectorAll(".field-error")) el.textContent = "";
    try {
      version = await api.put(path, doc);
      doc = structuredClone(version.document);
      drawHead(); drawEditor();
      status.append(notice(t("meth.accepted"), "ok"));
    } catch (err) {
      showFieldErrors(editor, err);
      status.append(problemBox(err));
    }
  }
  async function publish() {
    if (!confirm(t("meth.publish.confirm"))) return;
    const v = await attempt(status, () => api.post(`${path}/publish`));
    if (v) { version = v; drawHead(); drawEditor(); drawActions(); status.append(notice(t("meth.published.ok"), "ok")); }
  }
  const actions = h("div", { class: "actions" });
  function drawActions() {
    clear(actions,
      draft() ? h("button", { type: "button", id: "save-draft", onclick: save }, t("meth.save")) : null,
      draft() ? h("button", { type: "button", id: "publish", class: "warn", onclick: publish }, t("meth.publish")) : null,
      version.status === "published" ? form([{ name: "reason", label: t("field.reason"), required: true }], t("meth.retire"), async (v) => {
        version = await api.post(`${path}/retire`, { reason: v.reason });
        drawHead(); drawEditor(); drawActions();
      }, { id: "retire" }) : null);
  }

  const sim = form([
    { name: "occurred_from", label: t("field.from"), type: "datetime-local", required: true },
    { name: "occurred_to", label: t("field.to"), type: "datetime-local", required: true },
  ], t("meth.simulate"), async (v) => {
    const out = await api.post(`${path}/simulate`, { occurred_from: new Date(v.occurred_from).toISOString(), occurred_to: new Date(v.occurred_to).toISOString() });
    simOut.replaceChildren(...simulation(out));
  }, { id: "simulate" });
  sim.classList.add("inline");

  drawHead(); drawEditor(); drawActions();
  main.append(head, status, actions,
    section(t("meth.document"), h("p", { class: "muted" }, t("meth.document.hint")), editor,
      h("details", {}, h("summary", {}, t("meth.json")), json)),
    section(t("meth.simulation"), h("p", { class: "muted" }, t("meth.simulation.hint")), sim, simOut));
}

function simulation(out) {
  const rows = out.rows || [];
  const types = new Set(rows.map((r) => r.type));
  const cats = rows.map((r) => (types.size > 1 ? `${r.type} · ${r.district}` : r.district));
  return [
    barChart({ categories: cats, stacked: false, unit: t("unit.points"), title: t("meth.sim.points"),
      series: [{ name: t("meth.sim.paid"), values: rows.map((r) => r.paid_points) },
        { name: t("meth.sim.simulated"), values: rows.map((r) => r.simulated_points) }] }),
    table([
      { label: t("field.behaviour"), key: "type" }, { label: t("field.district"), key: "district" },
      { label: t("field.behaviours"), value: (r) => num(r.behaviours), num: true },
      { label: t("meth.sim.changed"), value: (r) => num(r.changed), num: true },
      { label: t("meth.sim.paid"), value: (r) => num(r.paid_points), num: true },
      { label: t("meth.sim.simulated"), value: (r) => num(r.simulated_points), num: true },
      { label: t("meth.sim.paid_g"), value: (r) => num(r.paid_reduction_g), num: true },
      { label: t("meth.sim.simulated_g"), value: (r) => num(r.simulated_reduction_g), num: true },
      { label: t("meth.sim.not_scorable"), value: (r) => num(r.not_scorable), num: true },
    ], rows),
  ];
}
