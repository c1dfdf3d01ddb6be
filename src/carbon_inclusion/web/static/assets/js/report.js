// A batch's monitoring report and behaviour list as the API gives them (the verifier's
// console and the public registry): figures, verification, each methodology version with
// its sourced parameters, shares by evidence, type, district and day, partners, outliers,
// what was left out, the carry. A field the API adds shows at the end, as it comes.
import { h, table, pagedTable, num, grams, when, day } from "./dom.js";
import { barChart, hBars } from "./chart.js";
import { t, lang } from "./i18n.js";
import { behaviourName } from "./names.js";

const HANDLED = new Set(["batch_id", "status", "methodology_code", "vintage_from", "vintage_to", "quantity",
  "serials", "behaviours", "allocated_g", "carry", "verification", "methodologies", "by_evidence", "by_type",
  "by_district", "by_day", "partners", "outliers", "excluded", "report_url", "pdf_url", "behaviours_url"]);

const shown = (v) => (v === null || v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));
const dl = (pairs) => h("dl", { class: "report" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
const shares = (rows, name = (k) => k) => table([
  { label: t("report.key"), value: (r) => name(r.key) },
  { label: t("report.behaviours"), value: (r) => num(r.behaviours), num: true },
  { label: t("report.grams"), value: (r) => grams(r.grams), num: true },
], rows || []);

function methodology(m) {
  return h("div", { class: "report-block" },
    h("h4", {}, `${m.code} v${m.version} · ${lang() === "en" ? m.title_en : m.title_zh}`),
    dl([[t("field.in_force"), `${when(m.in_force_from)} – ${m.in_force_to ? when(m.in_force_to) : "…"}`],
      [t("report.formula"), h("code", {}, m.formula)], [t("report.rounding"), m.rounding],
      [t("report.behaviours"), `${num(m.behaviours)} · ${grams(m.grams)}`],
      ["SHA-256", h("a", { href: m.document_url, class: "mono" }, m.sha256)]]),
    table([
      { label: t("report.param"), key: "name" },
      { label: t("report.value"), value: (p) => shown(p.value) },
      { label: t("report.unit"), key: "unit" },
      { label: t("report.source"), cell: (p) => h("small", {}, p.source, p.note ? [h("br"), p.note] : null) },
    ], m.params || []));
}

export function reportView(r) {
  const v = r.verification || {};
  const days = r.by_day || [];
  const extra = Object.entries(r).filter(([k]) => !HANDLED.has(k));
  return h("div", { class: "report-view", dataset: { batch: r.batch_id } },
    dl([[t("field.methodology"), r.methodology_code], [t("field.vintage"), `${day(r.vintage_from)} – ${day(r.vintage_to)}`],
      [t("field.status"), t(`status.${r.status}`)], [t("batch.quantity"), `${num(r.quantity)} t`],
      r.serials ? [t("batch.serials"), `${r.serials.first} – ${r.serials.last}`] : null,
      [t("report.behaviours"), num(r.behaviours)], [t("batch.allocated"), grams(r.allocated_g)],
      r.carry ? [t("report.carry"), `${grams(r.carry.carry_in_g)} → ${grams(r.carry.carry_out_g)}`] : null]),
    h("h3", {}, t("batch.verification")),
    dl([[t("report.proposed_at"), when(v.proposed_at)], [t("report.verification_body"), v.verification_body || "–"],
      [t("report.verified_at"), when(v.verified_at)], v.statement ? [t("batch.statement"), v.statement] : null,
      v.returned_at ? [t("report.returned_at"), when(v.returned_at)] : null,
      v.findings?.length ? [t("batch.findings"), v.findings.join("; ")] : null,
      [t("batch.issued.at"), when(v.issued_at)]]),
    h("h3", {}, t("report.methodologies")), (r.methodologies || []).map(methodology),
    days.length ? barChart({ categories: days.map((d) => d.key), unit: "g", title: t("report.by_day"),
      series: [{ name: t("report.grams"), values: days.map((d) => Number(d.grams)) }] }) : null,
    h("div", { class: "grid" },
      h("div", {}, h("h3", {}, t("report.by_district")),
        hBars((r.by_district || []).map((d) => ({ label: d.key, value: d.grams, text: grams(d.grams) })))),
      h("div", {}, h("h3", {}, t("report.by_type")), shares(r.by_type, behaviourName),
        h("h3", {}, t("report.by_evidence")), shares(r.by_evidence),
        h("h3", {}, t("report.partners")), table([
          { label: t("field.partner"), value: (p) => `${p.name} (${p.partner_id})` },
          { label: t("report.behaviours"), value: (p) => num(p.behaviours), num: true },
          { label: t("report.grams"), value: (p) => grams(p.grams), num: true }], r.partners || []))),
    r.outliers ? [h("h3", {}, t("report.outliers")), h("p", { class: "muted" }, r.outliers.definition),
      table([
        { label: t("field.methodology"), value: (g) => `v${g.methodology_version}` },
        { label: t("report.percentile"), key: "percentile", num: true },
        { label: t("report.threshold"), value: (g) => grams(g.threshold_g), num: true },
        { label: t("report.behaviours"), value: (g) => num(g.behaviours), num: true },
        { label: t("report.grams"), value: (g) => grams(g.grams), num: true }], r.outliers.groups || []),
      (r.outliers.groups || []).some((g) => g.largest?.length)
        ? h("details", {}, h("summary", {}, t("report.largest")), lineTable(r.outliers.groups.flatMap((g) => g.largest || []))) : null] : null,
    r.excluded ? [h("h3", {}, t("report.excluded")), h("p", { class: "muted" }, r.excluded.definition),
      dl(Object.entries(r.excluded).filter(([k]) => k !== "definition").map(([k, x]) => [t(`report.${k}`), `${num(x.behaviours)} · ${grams(x.grams)}`]))] : null,
    extra.length ? dl(extra.map(([k, x]) => [k, shown(x)])) : null);
}

const LINE_COLUMNS = () => [
  { label: "#", key: "line", num: true },
  { label: t("report.citizen"), cell: (l) => h("code", {}, l.citizen) },
  { label: t("field.behaviour"), key: "type" },
  { label: t("report.day"), key: "programme_day" },
  { label: t("field.district"), key: "district_code" },
  { label: t("field.evidence"), value: (l) => `${l.evidence}${l.reviewed ? " ✓" : ""}` },
  { label: t("field.partner"), value: (l) => l.partner_id || "–" },
  { label: t("field.methodology"), value: (l) => `${l.methodology_code} v${l.methodology_version}` },
  { label: t("report.inputs"), cell: (l) => h("small", {}, Object.entries(l.inputs || {}).map(([k, x]) => `${k}=${x}`).join(" ")) },
  { label: t("report.grams"), value: (l) => num(l.grams), num: true },
];

function lineTable(lines) { return table(LINE_COLUMNS(), lines); }

/** The paged behaviour list; fetchPage({limit, cursor}) answers {items, next_cursor}. */
export function behaviourList(fetchPage) {
  return h("div", { class: "behaviours" }, pagedTable((cursor) => fetchPage({ limit: 50, cursor }), LINE_COLUMNS()));
}


