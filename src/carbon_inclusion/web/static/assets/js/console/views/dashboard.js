// Administrator's dashboard: every figure from /v1/admin/stats/*.
import * as api from "../../api.js";
import { h, section, attempt, num, grams, form, table } from "../../dom.js";
import { barChart, hBars, pivot } from "../../chart.js";
import { t, lang, pick } from "../../i18n.js";
import { behaviourName } from "../../names.js";

const METRICS = [["count", "dash.metric.count"], ["reduction_g", "dash.metric.grams"]];

export default async function dashboard(main) {
  const q = {};
  const out = h("div", { class: "grid" });
  const status = h("div");
  const filters = form([
    { name: "from", label: t("dash.from"), type: "date" },
    { name: "to", label: t("dash.to"), type: "date" },
  ], t("dash.apply"), async (v) => { q.from = v.from; q.to = v.to; await load(); }, { id: "dash-filter" });
  filters.classList.add("inline");
  main.append(h("h1", {}, t("menu.dashboard")), filters, status, out);

  async function load() {
    const done = await attempt(status, () => Promise.all([
      api.get("/v1/admin/stats/behaviours", { ...q, by: "type" }),
      api.get("/v1/admin/stats/behaviours", { ...q, by: "district" }),
      api.get("/v1/admin/stats/points", q),
      api.get("/v1/admin/stats/rewards", q),
      api.get("/v1/admin/stats/credits", q),
      api.get("/v1/districts"),
    ]));
    if (!done) return;
    const [byType, byDistrict, points, rewards, credits, districts] = done;
    // Districts by name in the page's language (the statistics give their codes).
    const names = new Map((districts.items || []).map((d) => [d.code, pick(d)]));
    filters.querySelector("[name=from]").value = byType.from;  // the API's range
    filters.querySelector("[name=to]").value = byType.to;
    out.replaceChildren(
      behaviourCard(t("dash.bytype"), byType),
      behaviourCard(t("dash.bydistrict"), byDistrict, (k) => names.get(k) || k),
      pointsCard(points),
      rewardsCard(rewards),
      creditsCard(credits));
  }
  await load();
}

function behaviourCard(title, stats, districtName = (k) => k) {
  const body = h("div");
  const card = section(`${title} (${stats.from ?? ""} – ${stats.to ?? ""})`, body);
  card.id = `dash-${stats.by}`;
  for (const [metric, label] of METRICS) {
    const { categories, series } = pivot(stats.rows, metric, { top: 8, other: t("dash.other"),
      nameOf: (k) => (stats.by === "type" ? behaviourName(k) : districtName(k)) });
    const unit = metric === "reduction_g" ? "g" : t("unit.behaviours");
    body.append(barChart({ categories, series, unit, title: t(label) }));
  }
  if (stats.by === "district") {
    const totals = new Map();
    for (const r of stats.rows) totals.set(r.key, (totals.get(r.key) || 0) + Number(r.reduction_g));
    body.append(hBars([...totals].sort((a, b) => b[1] - a[1]).slice(0, 12)
      .map(([k, g]) => ({ label: districtName(k), value: g, text: grams(g) })), { title: t("dash.district.totals") }));
  }
  return card;
}

function pointsCard(points) {
  const rows = points.rows || [];
  const chart = barChart({
    categories: rows.map((r) => r.day), stacked: false, unit: t("unit.points"),
    series: [
      { name: t("dash.points.issued"), values: rows.map((r) => Number(r.issued)) },
      { name: t("dash.points.redeemed"), values: rows.map((r) => Number(r.redeemed)) },
      { name: t("dash.points.expired"), values: rows.map((r) => Number(r.expired)) },
      { name: t("dash.points.reversed"), values: rows.map((r) => Number(r.reversed || 0)) },
      { name: t("dash.points.refunded"), values: rows.map((r) => Number(r.refunded || 0)) },
    ],
  });
  const sum = (k) => rows.reduce((a, r) => a + Number(r[k] || 0), 0);
  const card = section(t("dash.points"),
    h("p", { class: "kpi" }, h("span", {}, t("dash.points.outstanding")), h("strong", { id: "outstanding" }, num(points.outstanding)), h("small", {}, t("dash.points.liability"))),
    h("p", { class: "muted" }, t("dash.points.range"), " ", ["issued", "redeemed", "expired", "reversed", "refunded"].map((k) => `${t(`dash.points.${k}`)} ${num(sum(k))}`).join(" · ")),
    chart);
  card.id = "dash-points";
  return card;
}

function rewardsCard(stats) {
  const rows = stats.rows || [];
  const name = (r) => (lang() === "en" ? r.reward_name_en : r.reward_name) || r.reward_id;
  const { categories, series } = pivot(rows, "redeemed", { keyOf: name, top: 8, other: t("dash.other") });
  const totals = new Map();
  for (const r of rows) totals.set(name(r), (totals.get(name(r)) || 0) + Number(r.redeemed));
  const card = section(t("dash.rewards"),
    barChart({ categories, series, unit: t("unit.redemptions") }),
    table([{ label: t("field.reward"), key: "name" }, { label: t("dash.rewards.redeemed"), key: "n", num: true }],
      [...totals].sort((a, b) => b[1] - a[1]).map(([n, k]) => ({ name: n, n: num(k) }))));
  card.id = "dash-rewards";
  return card;
}

function creditsCard(c) {
  const keys = ["proposed_t", "verified_t", "returned_t", "issued_t", "available_t", "reserved_t", "held_t", "retired_t", "cancelled_t"];
  const card = section(t("dash.credits"),
    hBars(keys.filter((k) => k in c).map((k) => ({ label: t(`dash.credits.${k}`), value: c[k], text: `${num(c[k])} t` }))));
  card.id = "dash-credits";
  return card;
}


