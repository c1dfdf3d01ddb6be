// Orders: those awaiting payment first; confirming one records the payment reference.
import * as api from "../../api.js";
import { h, pagedTable, attempt, notice, num, badge, when } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function orders(main) {
  const status = h("div", { id: "order-status" });
  const filter = h("select", { id: "order-filter", onchange: () => draw() },
    ["reserved", "paid", "expired", ""].map((s) => h("option", { value: s }, s ? t(`order.${s}`) : t("filter.all"))));
  const listBox = h("div");
  function confirmCell(o) {
    if (o.status !== "reserved") return o.payment_reference || "–";
    const ref = h("input", { placeholder: t("order.reference"), "aria-label": t("order.reference"), class: "reference" });
    const box = h("div", { class: "decide", dataset: { order: o.id } }, ref);
    box.append(h("button", { type: "button", class: "confirm", onclick: async () => {
      const done = await attempt(status, () => api.post(`/v1/admin/orders/${o.id}/confirm-payment`, { reference: ref.value }));
      if (done) {
        status.replaceChildren(notice(t("order.confirmed", { serials: done.serials.map((s) => `${s.first} – ${s.last}`).join(", ") }), "ok"));
        draw();
      }
    } }, t("order.confirm")));
    return box;
  }
  function draw() {
    listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/admin/orders", { cursor, status: filter.value }), [
      { label: t("field.created"), value: (o) => when(o.created_at) },
      { label: t("field.organisation"), value: (o) => o.organisation_name || o.organisation?.name || o.organisation_id },
      { label: t("order.quantity"), value: (o) => `${num(o.quantity_t)} t`, num: true },
      { label: t("order.amount"), value: (o) => `¥${num(o.amount_cny, 2)}`, num: true },
      { label: t("field.status"), cell: (o) => badge(o.status) },
      { label: t("order.expires"), value: (o) => when(o.expires_at) },
      { label: t("order.payment"), cell: confirmCell },
    ]));
  }
  main.append(h("h1", {}, t("menu.orders")), status,
    h("section", { class: "card" }, h("label", { class: "field inline" }, h("span", {}, t("field.status")), filter), listBox));
  draw();
}
