// Data partners: create (the secret is shown once), scope, rotate the secret, status.
import * as api from "../../api.js";
import { h, section, form, table, attempt, notice, when, csv, badge } from "../../dom.js";
import { t } from "../../i18n.js";

const KINDS = ["transit", "charging", "waste", "other"];

export default async function partners(main) {
  const status = h("div");
  const secret = h("div", { id: "partner-secret" });
  const listBox = h("div");
  const showSecret = (s) => secret.replaceChildren(notice([t("partner.secret.once"), " ", h("code", {}, s.secret),
    s.previous_secret_valid_until ? ` · ${t("partner.previous.until")} ${when(s.previous_secret_valid_until)}` : ""], "warn"));
  async function load() {
    const list = await attempt(status, () => api.get("/v1/admin/partners"));
    if (!list) return;
    listBox.replaceChildren(table([
      { label: "ID", key: "id" }, { label: t("field.name"), key: "name" }, { label: t("field.kind"), key: "kind" },
      { label: t("field.status"), cell: (p) => badge(p.status) },
      { label: t("partner.ingestion"), cell: (p) => ingestion(p) },
      { label: t("partner.scope"), cell: (p) => scopeForm(p) },
      { label: "", cell: (p) => h("button", { type: "button", class: "secondary", onclick: async () => {
        if (!confirm(t("partner.rotate.confirm"))) return;
        const s = await attempt(status, () => api.post(`/v1/admin/partners/${encodeURIComponent(p.id)}/rotate-secret`));
        if (s) showSecret(s);
      } }, t("partner.rotate")) },
    ], list.items));
  }
  // The partner's ingestion status, as the API counts it (kept records by status).
  function ingestion(p) {
    const box = h("div", { class: "ingestion small", "data-partner": p.id }, "…");
    api.get(`/v1/admin/partners/${encodeURIComponent(p.id)}/ingestion`).then((s) => {
      const counts = (o) => Object.entries(o).map(([k, n]) => `${k} ${n}`).join(" · ") || "0";
      box.replaceChildren(
        h("div", {}, s.last_received_at ? `${t("partner.last")} ${when(s.last_received_at)}`
          : t("partner.none", { days: s.window_days })),
        h("div", { class: "muted" }, `${t("partner.24h")}: ${counts(s.last_24h)}`),
        h("div", { class: "muted" }, `${t("partner.waiting")}: ${s.waiting_for_binding}`));
    }, (e) => box.replaceChildren(e.message || String(e)));
    return box;
  }
  function scopeForm(p) {
    const f = form([
      { name: "behaviour_types", label: t("field.behaviour_types"), value: (p.behaviour_types || []).join(", ") },
      { name: "districts", label: t("field.districts"), value: (p.districts || []).join(", "), placeholder: t("partner.alldistricts") },
    ], t("action.save"), async (v) => {
      await api.put(`/v1/admin/partners/${encodeURIComponent(p.id)}/scope`, { behaviour_types: csv(v.behaviour_types), districts: v.districts.trim() ? csv(v.districts) : null });
      f.append(notice(t("action.saved"), "ok"));
    });
    f.classList.add("inline", "small");
    return f;
  }
  const create = form([
    { name: "id", label: "ID", required: true, placeholder: "metro-cq" },
    { name: "name", label: t("field.name"), required: true },
    { name: "kind", label: t("field.kind"), type: "select", options: KINDS.map((k) => [k, k]) },
    { name: "behaviour_types", label: t("field.behaviour_types"), placeholder: "metro_trip, bus_trip" },
    { name: "districts", label: t("field.districts"), placeholder: t("partner.alldistricts") },
  ], t("partner.create"), async (v) => {
    const s = await api.post("/v1/admin/partners", { id: v.id, name: v.name, kind: v.kind,
      behaviour_types: v.behaviour_types.trim() ? csv(v.behaviour_types) : null, districts: v.districts.trim() ? csv(v.districts) : null });
    showSecret(s);
    await load();
  }, { id: "partner-create" });
  main.append(h("h1", {}, t("menu.partners")), status, secret, section(null, listBox), section(t("partner.create"), create));
  await load();
}
