// Certificates: every one issued; cancel with a reason, and reissue (the API's default).
import * as api from "../../api.js";
import { h, pagedTable, attempt, notice, when, badge, num } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function certificates(main) {
  const status = h("div", { id: "cert-status" });
  const filter = h("select", { onchange: () => draw() },
    ["", "valid", "cancelled", "superseded"].map((s) => h("option", { value: s }, s ? t(`status.${s}`) : t("filter.all"))));
  const listBox = h("div");
  function cancelCell(c) {
    if (c.status !== "valid") return c.replaced_by ? h("a", { href: `/verify?c=${c.replaced_by}` }, t("cert.replacement")) : (c.cancel_reason || "–");
    const reason = h("input", { placeholder: t("field.reason"), "aria-label": t("field.reason") });
    const reissue = h("input", { type: "checkbox", checked: true });
    const box = h("div", { class: "decide", dataset: { certificate: c.id } }, reason, h("label", { class: "check" }, reissue, t("cert.reissue")));
    box.append(h("button", { type: "button", class: "warn", onclick: async () => {
      if (!confirm(t("cert.cancel.confirm"))) return;
      const done = await attempt(status, () => api.post(`/v1/admin/certificates/${c.id}/cancel`, { reason: reason.value, reissue: reissue.checked }));
      if (done) { status.append(notice(t("cert.cancelled"), "ok")); draw(); }
    } }, t("cert.cancel")));
    return box;
  }
  function draw() {
    listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/admin/certificates", { cursor, status: filter.value }), [
      { label: t("cert.number"), cell: (c) => h("a", { href: `/verify?c=${c.id}` }, c.number) },
      { label: t("field.issued"), value: (c) => when(c.issued_at) },
      { label: t("field.organisation"), key: "organisation_name" },
      { label: t("cert.subject"), key: "subject" },
      { label: t("cert.quantity"), value: (c) => `${num(c.quantity_t)} t`, num: true },
      { label: t("field.kind"), value: (c) => t(c.kind === "event" ? "cert.event" : "cert.compliance") },
      { label: t("field.status"), cell: (c) => badge(c.status) },
      { label: "", cell: cancelCell },
    ]));
  }
  main.append(h("h1", {}, t("menu.certificates")), status,
    h("section", { class: "card" }, h("label", { class: "field inline" }, h("span", {}, t("field.status")), filter), listBox));
  draw();
}
