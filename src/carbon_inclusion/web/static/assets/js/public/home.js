// The programme's public home: every figure from GET /v1/public/overview.
import * as api from "../api.js";
import { h, section, attempt, num, grams, when, table } from "../dom.js";
import { hBars } from "../chart.js";
import { t, pick } from "../i18n.js";
import { page } from "./shell.js";

const nameOf = (r) => r.name ? pick(r.name) : pick(r) || r.code || r.key || r.type || r.district;

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
      section(t("pub.bydistrict"), hBars((o.by_district || []).map((r) => ({ label: nameOf(r), value: r.reduction_g, text: grams(r.reduction_g) })))),
      section(t("pub.bytype"), hBars((o.by_type || []).map((r) => ({ label: t(`type.${r.type ?? r.key}`) === `type.${r.type ?? r.key}` ? nameOf(r) : t(`type.${r.type ?? r.key}`), value: r.reduction_g, text: grams(r.reduction_g) }))))),
    section(t("pub.recent"), table([
      { label: t("cert.number"), cell: (c) => h("a", { href: `/verify?c=${c.id}` }, c.number) },
      { label: t("field.organisation"), value: (c) => c.organisation || c.organisation_name || "–" },
      { label: t("cert.quantity"), value: (c) => `${num(c.quantity_t)} t`, num: true },
      { label: t("field.issued"), value: (c) => when(c.issued_at) },
    ], o.recent_certificates || [])));
});

function kpi(label, value, id) {
  return h("div", { class: "kpi-card" }, h("span", {}, label), h("strong", { id }, value));
}
