// The programme's public home: every figure from GET /v1/public/overview.
import * as api from "../api.js";
import { h, section, attempt, num, grams, when, table } from "../dom.js";
import { hBars } from "../chart.js";
import { t, lang } from "../i18n.js";
import { page } from "./shell.js";
import { behaviourName } from "../names.js";

const district = (r) => (lang() === "en" ? r.name_en : r.name) || r.district;

page(async (main) => {
  const status = h("div");
  main.append(h("section", { class: "hero" }, h("h1", {}, t("pub.home.title")), h("p", {}, t("pub.home.lead"))), status);
  const o = await attempt(status, () => api.get("/v1/public/overview", {}, { auth: false }));
  if (!o) return;
  main.append(
    h("div", { class: "kpis" },
      kpi(t("pub.total"), grams(o.total_reduction_g), "total-reduction"),
      kpi(t("pub.behaviours"), num(o.credited_behaviours), "credited-behaviours"),
      kpi(t("pub.participants"), num(o.participants), "participants"),
      kpi(t("pub.credits.issued"), `${num(o.credits?.issued_t)} t`, "credits-issued"),
      kpi(t("pub.credits.retired"), `${num(o.credits?.retired_t)} t`, "credits-retired"),
      kpi(t("pub.credits.available"), `${num(o.credits?.available_t)} t`, "credits-available")),
    h("div", { class: "grid" },
      section(t("pub.bydistrict"), hBars((o.by_district || []).slice(0, 12).map((r) => ({ label: district(r), value: r.reduction_g, text: grams(r.reduction_g) }))),
        o.by_district?.length > 12 ? h("p", { class: "muted" }, t("pub.top12", { n: o.by_district.length })) : null),
      section(t("pub.bytype"), hBars((o.by_type || []).map((r) => ({ label: behaviourName(r.type), value: r.reduction_g, text: `${grams(r.reduction_g)} · ${num(r.count)} ${t("unit.behaviours")}` }))))),
    section(t("pub.recent"), table([
      { label: t("cert.number"), cell: (c) => h("a", { href: `/verify?c=${c.id}` }, c.number) },
      { label: t("field.organisation"), key: "organisation_name" },
      { label: t("cert.subject"), key: "subject" },
      { label: t("cert.quantity"), value: (c) => `${num(c.quantity_t)} t`, num: true },
      { label: t("field.issued"), value: (c) => when(c.issued_at) },
    ], o.recent_certificates || [])));
});

function kpi(label, value, id) {
  return h("div", { class: "kpi-card" }, h("span", {}, label), h("strong", { id }, value));
}
