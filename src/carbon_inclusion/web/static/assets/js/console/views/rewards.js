// The rewards catalogue: create, stock and status, voucher codes.
import * as api from "../../api.js";
import { h, section, form, table, attempt, notice, num, badge, compact } from "../../dom.js";
import { t, pick } from "../../i18n.js";

export default async function rewards(main) {
  const status = h("div");
  const listBox = h("div");
  async function load() {
    const list = await attempt(status, () => api.get("/v1/admin/rewards"));
    if (!list) return;
    listBox.replaceChildren(table([
      { label: t("field.name"), value: (r) => pick(r) },
      { label: t("field.kind"), key: "kind" },
      { label: t("field.cost"), value: (r) => num(r.cost_points), num: true },
      { label: t("reward.stock"), value: (r) => (r.stock === null ? "∞" : `${num(r.remaining)} / ${num(r.stock)}`), num: true },
      { label: t("reward.issued"), value: (r) => num(r.issued), num: true },
      { label: t("reward.pooled"), value: (r) => (r.uses_code_pool ? num(r.pooled) : "–"), num: true },
      { label: t("field.status"), cell: (r) => badge(r.status) },
      { label: t("reward.edit"), cell: (r) => edit(r) },
    ], list.items));
  }
  function edit(r) {
    const f = form([
      { name: "stock", label: t("reward.stock"), type: "number", value: r.stock ?? "" },
      { name: "status", label: t("field.status"), type: "select", value: r.status, options: ["active", "archived"].map((s) => [s, t(`status.${s}`)]) },
      r.uses_code_pool ? { name: "codes", label: t("reward.codes"), type: "textarea", rows: 2, placeholder: t("reward.codes.hint") } : null,
    ].filter(Boolean), t("action.save"), async (v) => {
      await api.put(`/v1/admin/rewards/${r.id}`, { stock: v.stock === "" ? null : Number(v.stock), status: v.status });
      if (v.codes && v.codes.trim()) {
        const c = await api.post(`/v1/admin/rewards/${r.id}/codes`, { codes: v.codes.split(/\s+/).filter(Boolean) });
        f.append(notice(t("reward.codes.added", { added: c.added, duplicates: c.duplicates, pooled: c.pooled }), "ok"));
      }
      await load();
    });
    f.classList.add("inline", "small");
    return f;
  }
  const create = form([
    { name: "name_zh", label: t("field.name_zh"), required: true },
    { name: "name_en", label: t("field.name_en"), required: true },
    { name: "kind", label: t("field.kind"), type: "select", options: ["coupon", "voucher", "donation"].map((k) => [k, k]) },
    { name: "cost_points", label: t("field.cost"), type: "number", required: true },
    { name: "stock", label: t("reward.stock"), type: "number" },
    { name: "partner_id", label: t("field.partner") },
    { name: "uses_code_pool", label: t("reward.uses_pool"), type: "checkbox" },
    { name: "description", label: t("field.description"), type: "textarea" },
  ], t("reward.create"), async (v) => {
    await api.post("/v1/admin/rewards", compact(v, ["cost_points", "stock"]));
    await load();
  }, { id: "reward-create" });
  main.append(h("h1", {}, t("menu.rewards")), status, section(null, listBox), section(t("reward.create"), create));
  await load();
}
