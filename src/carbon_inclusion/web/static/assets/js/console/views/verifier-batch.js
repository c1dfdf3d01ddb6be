// One batch for a verifier: its monitoring report, its behaviour list, verify or return it.
import * as api from "../../api.js";
import { h, section, form, attempt, notice, num, badge, day, grams } from "../../dom.js";
import { t } from "../../i18n.js";
import { reportView, behaviourList } from "../../report.js";
import { reportLinks } from "./batches.js";

export default async function verifierBatch(main, { params, go }) {
  const base = `/v1/verifier/batches/${params.id}`;
  const b = await api.get(base);
  const status = h("div", { id: "vb-status" });
  const report = h("div", { id: "vb-report" });
  main.append(
    h("h1", {}, `${b.methodology_code} · ${day(b.vintage_from)} – ${day(b.vintage_to)}`),
    h("p", {}, badge(b.status), ` ${num(b.quantity)} t · ${num(b.behaviours)} ${t("unit.behaviours")} · ${grams(b.allocated_g)}`),
    status, h("p", {}, reportLinks("/v1/verifier/batches", b, status)),
    section(t("batch.report"), report),
    section(t("batch.behaviours"), behaviourList((q) => api.get(`${base}/behaviours`, q))));
  const r = await attempt(report, () => api.get(`${base}/report`));
  if (r) report.append(reportView(r));
  if (b.status === "proposed") {
    const verify = form([{ name: "statement", label: t("batch.statement"), type: "textarea" }], t("batch.verify"), async (v) => {
      await api.post(`${base}/verify`, { statement: v.statement || null });
      status.replaceChildren(notice(t("batch.verified"), "ok"));
      go("verify");
    }, { id: "verify-form" });
    const back = form([{ name: "findings", label: t("batch.findings.lines"), type: "textarea", required: true }], t("batch.return"), async (v) => {
      await api.post(`${base}/return`, { findings: v.findings.split("\n").map((s) => s.trim()).filter(Boolean) });
      status.replaceChildren(notice(t("batch.returned"), "ok"));
      go("verify");
    }, { id: "return-form" });
    main.append(h("div", { class: "grid" }, section(t("batch.verify"), verify), section(t("batch.return"), back)));
  }
}
