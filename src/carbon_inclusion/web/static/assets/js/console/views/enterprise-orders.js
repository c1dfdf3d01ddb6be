// Buying credits: a quote reserves them until paid (an administrator confirms the
// payment); holdings are the serials the organisation holds and has retired.
import * as api from "../../api.js";
import { h, section, form, pagedTable, attempt, notice, num, badge, when, table } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function orders(main) {
  const status = h("div");
  const holdings = h("div", { id: "holdings" });
  const listBox = h("div");
  const draw = () => listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/orders", { cursor }), [
    { label: t("field.created"), value: (o) => when(o.created_at) },
    { label: t("order.quantity"), value: (o) => `${num(o.quantity_t)} t`, num: true },
    { label: t("order.price"), value: (o) => `¥${num(o.price_cny_per_t, 2)}/t`, num: true },
    { label: t("order.amount"), value: (o) => `¥${num(o.amount_cny, 2)}`, num: true },
    { label: t("field.status"), cell: (o) => badge(o.status) },
    { label: t("order.expires"), value: (o) => (o.status === "reserved" ? when(o.expires_at) : "–") },
    { label: t("batch.serials"), value: (o) => o.serials.map((s) => `${s.first} – ${s.last}`).join(", ") || "–" },
  ]));
  async function loadHoldings() {
    const hd = await attempt(holdings, () => api.get("/v1/holdings"));
    if (!hd) return;
    holdings.append(
      h("p", { class: "kpi" }, h("span", {}, t("holdings.held")), h("strong", { id: "held-t" }, `${num(hd.held_t)} t`),
        h("small", {}, `${t("holdings.retired")} ${num(hd.retired_t)} t`)),
      table([{ label: t("batch.first"), key: "first" }, { label: t("batch.last"), key: "last" }, { label: t("batch.quantity"), value: (b) => `${num(b.quantity)} t`, num: true }], hd.blocks));
  }
  const buy = form([{ name: "quantity_t", label: t("order.quantity"), type: "number", required: true }], t("order.create"), async (v) => {
    const o = await api.post("/v1/orders", { quantity_t: Number(v.quantity_t) }, { idempotent: true });
    status.replaceChildren(notice(t("order.created", { amount: num(o.amount_cny, 2), until: when(o.expires_at) }), "ok"));
    draw();
  }, { id: "order-form" });
  buy.classList.add("inline");
  main.append(h("h1", {}, t("menu.buy")), status,
    h("div", { class: "grid" }, section(t("order.create"), h("p", { class: "muted" }, t("order.hint")), buy), section(t("holdings.title"), holdings)),
    section(t("order.list"), listBox));
  draw();
  await loadHoldings();
}
