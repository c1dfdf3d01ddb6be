// Credit batches through their life: proposed → verified (by a verification body) or
// returned → issued; monitoring reports and behaviour lists; cancellations of serials.
import * as api from "../../api.js";
import { h, section, form, pagedTable, attempt, notice, num, badge, when, day, grams } from "../../dom.js";
import { t } from "../../i18n.js";

export function serials(b) {
  return b.serials ? `${b.serials.first} – ${b.serials.last}` : "–";
}

/** Links to a batch's monitoring report (JSON shown, PDF downloaded) and behaviour list. */
export function reportLinks(base, b, status) {
  return h("span", { class: "links" },
    h("button", { type: "button", class: "link", onclick: () => attempt(status, () => api.download(`${base}/${b.id}/report/pdf`, `monitoring-report-${b.id}.pdf`, "application/pdf")) }, t("batch.report.pdf")),
    h("button", { type: "button", class: "link", onclick: () => attempt(status, () => api.download(`${base}/${b.id}/behaviours.csv`, `batch-${b.id}-behaviours.csv`, "text/csv")) }, t("batch.behaviours.csv")));
}

export default async function batches(main) {
  const status = h("div", { id: "batch-status" });
  const filter = h("select", { id: "batch-filter", onchange: () => draw() },
    h("option", { value: "" }, t("filter.all")), ["proposed", "verified", "returned", "issued"].map((s) => h("option", { value: s }, t(`status.${s}`))));
  const listBox = h("div");
  function draw() {
    listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/admin/credit-batches", { cursor, status: filter.value }), [
      { label: t("field.methodology"), value: (b) => `${b.methodology_code} v${b.methodology_versions.join(",")}` },
      { label: t("field.vintage"), value: (b) => `${day(b.vintage_from)} – ${day(b.vintage_to)}` },
      { label: t("field.status"), cell: (b) => badge(b.status) },
      { label: t("batch.quantity"), value: (b) => `${num(b.quantity)} t`, num: true },
      { label: t("field.behaviours"), value: (b) => num(b.behaviours), num: true },
      { label: t("batch.allocated"), value: (b) => grams(b.allocated_g), num: true },
      { label: t("batch.states"), value: (b) => `${t("dash.credits.available_t")} ${b.available} · ${t("dash.credits.held_t")} ${b.held} · ${t("dash.credits.retired_t")} ${b.retired}` },
      { label: t("batch.verification"), value: (b) => (b.verified_at ? `${b.verification_body || ""} ${when(b.verified_at)}` : b.findings?.length ? `${t("batch.findings")}: ${b.findings.join("; ")}` : "–") },
      { label: t("batch.serials"), value: serials },
      { label: "", cell: (b) => h("div", { class: "row-actions" }, reportLinks("/v1/admin/credit-batches", b, status),
        b.status === "verified" ? h("button", { type: "button", class: "issue", onclick: async () => {
          const done = await attempt(status, () => api.post(`/v1/admin/credit-batches/${b.id}/issue`));
          if (done) { status.append(notice(t("batch.issued", { first: done.serials?.first ?? "", last: done.serials?.last ?? "" }), "ok")); draw(); }
        } }, t("batch.issue")) : null) },
    ]));
  }
  const propose = form([
    { name: "methodology_code", label: t("field.methodology"), required: true, placeholder: "CQ-TRANSIT" },
    { name: "vintage_from", label: t("field.from"), type: "date", required: true },
    { name: "vintage_to", label: t("field.to"), type: "date", required: true },
  ], t("batch.propose"), async (v) => {
    const b = await api.post("/v1/admin/credit-batches", v);
    propose.append(notice(t("batch.proposed", { quantity: b.quantity }), "ok"));
    draw();
  }, { id: "batch-propose" });
  const cancel = form([
    { name: "first", label: t("batch.first"), required: true },
    { name: "last", label: t("batch.last"), required: true },
    { name: "reason", label: t("field.reason"), required: true },
  ], t("batch.cancel"), async (v) => {
    if (!confirm(t("batch.cancel.confirm"))) return;
    const done = await api.post("/v1/admin/credit-cancellations", v);
    cancel.append(notice(t("batch.cancelled", { n: done.serials?.quantity ?? "" }), "ok"));
    draw();
  }, { id: "batch-cancel" });
  main.append(h("h1", {}, t("menu.batches")), status,
    section(null, h("label", { class: "field inline" }, h("span", {}, t("field.status")), filter), listBox),
    h("div", { class: "grid" }, section(t("batch.propose"), propose), section(t("batch.cancel"), cancel)));
  draw();
}
