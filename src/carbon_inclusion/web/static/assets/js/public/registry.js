// The public registry: issued batches, a serial look-up, each batch's monitoring report
// and behaviour list (public routes only).
import * as api from "../api.js";
import { h, section, attempt, num, day, when, badge, pagedTable, notice } from "../dom.js";
import { t } from "../i18n.js";
import { reportView, behaviourList } from "../report.js";
import { page } from "./shell.js";

page(async (main) => {
  const detail = h("div", { id: "batch-detail" });
  const found = h("div", { id: "serial-result" });
  const serial = h("input", { id: "serial", placeholder: "CQTHT-TRANSIT-2026-000001", "aria-label": t("reg.serial") });
  const lookup = h("form", { class: "inline", id: "serial-form" }, serial, h("button", { type: "submit" }, t("reg.lookup")));
  lookup.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const s = await attempt(found, () => api.get(`/v1/registry/serials/${encodeURIComponent(serial.value.trim())}`, {}, { auth: false }));
    if (!s) return;
    found.append(notice([h("strong", {}, s.serial), " · ", t(`state.${s.state}`), " · ", `${s.block.first} – ${s.block.last}`,
      s.certificate_id ? [" · ", h("a", { href: `/verify?c=${s.certificate_id}` }, t("cert.verify"))] : null,
      s.reason ? ` · ${s.reason}` : null, " · ", h("button", { type: "button", class: "link", onclick: () => open(s.batch.id) }, t("reg.batch"))], "ok"));
  });
  async function open(id) {
    const b = await attempt(detail, () => api.get(`/v1/registry/batches/${id}`, {}, { auth: false }));
    if (!b) return;
    const report = h("div");
    detail.replaceChildren(section(`${b.methodology_code} · ${day(b.vintage_from)} – ${day(b.vintage_to)}`,
      h("p", {}, badge(b.status), ` ${num(b.quantity)} t · ${b.serials ? `${b.serials.first} – ${b.serials.last}` : ""}`),
      h("p", {}, `${t("batch.verification")}: ${b.verification_body || "–"} ${when(b.verified_at)} · ${t("batch.issued.at")} ${when(b.issued_at)}`),
      h("p", { class: "links" },
        h("a", { href: `/v1/registry/batches/${b.id}/report/pdf`, id: "report-pdf" }, t("batch.report.pdf")), " · ",
        h("a", { href: `/v1/registry/batches/${b.id}/behaviours.csv`, id: "behaviours-csv" }, t("batch.behaviours.csv"))),
      h("h3", {}, t("batch.report")), report,
      h("h3", {}, t("batch.behaviours")), behaviourList((q) => api.get(`/v1/registry/batches/${b.id}/behaviours`, q, { auth: false }))));
    const r = await attempt(report, () => api.get(`/v1/registry/batches/${b.id}/report`, {}, { auth: false }));
    if (r) report.append(reportView(r));
    detail.scrollIntoView({ behavior: "smooth" });
  }
  main.append(h("h1", {}, t("pub.registry")), h("p", { class: "muted" }, t("reg.lead")),
    section(t("reg.serial"), lookup, found),
    section(t("reg.batches"), pagedTable((cursor) => api.get("/v1/registry/batches", { cursor }, { auth: false }), [
      { label: t("field.methodology"), cell: (b) => h("button", { type: "button", class: "link", dataset: { batch: b.id }, onclick: () => open(b.id) }, `${b.methodology_code} v${b.methodology_versions.join(",")}`) },
      { label: t("field.vintage"), value: (b) => `${day(b.vintage_from)} – ${day(b.vintage_to)}` },
      { label: t("batch.quantity"), value: (b) => `${num(b.quantity)} t`, num: true },
      { label: t("dash.credits.retired_t"), value: (b) => `${num(b.retired)} t`, num: true },
      { label: t("batch.serials"), value: (b) => (b.serials ? `${b.serials.first} – ${b.serials.last}` : "–") },
      { label: t("batch.verification"), value: (b) => b.verification_body || "–" },
    ])),
    detail);
  const wanted = new URLSearchParams(location.search).get("batch");
  if (wanted) open(wanted);
});
