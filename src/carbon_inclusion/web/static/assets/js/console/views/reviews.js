// The review queue: self-reports held for an administrator; approve or reject with a reason.
import * as api from "../../api.js";
import { h, pagedTable, when, grams, num, attempt, notice } from "../../dom.js";
import { t } from "../../i18n.js";
import { behaviourName, behaviourTypes } from "../../names.js";

// The photo a self-report carries, fetched with the reviewer's token and shown in place.
function photoCell(b) {
  if (!b.photo) return "–";
  const cell = h("div", { class: "photo" });
  cell.append(h("button", { type: "button", class: "secondary show-photo", onclick: async () => {
    const blob = await attempt(cell, () => api.request("GET", `/v1/photos/${b.photo.id}`, { accept: "blob", mime: b.photo.content_type }));
    if (blob) cell.replaceChildren(h("img", { src: URL.createObjectURL(blob), alt: t("review.photo"), class: "evidence" }));
  } }, t("review.photo")));
  return cell;
}

export default async function reviews(main) {
  const status = h("div", { id: "review-status" });
  function decide(b, verdict, reasonInput, row) {
    return async () => {
      const done = await attempt(status, () => api.post(`/v1/admin/reviews/${b.id}/${verdict}`, { reason: reasonInput.value }));
      if (done) { row.replaceChildren(notice(t(`review.${verdict}d`), "ok")); }
    };
  }
  const columns = [
    { label: t("field.occurred"), value: (b) => when(b.occurred_at) },
    { label: t("field.behaviour"), value: (b) => behaviourName(b.type) },
    { label: t("field.reduction"), value: (b) => grams(b.reduction_g), num: true },
    { label: t("field.points"), value: (b) => num(b.points), num: true },
    { label: t("field.evidence"), key: "evidence" },
    { label: t("field.flags"), value: (b) => (b.flags || []).join(", ") || "–" },
    { label: t("review.photo"), cell: photoCell },
    { label: t("review.decision"), cell: (b) => {
      const reason = h("input", { placeholder: t("field.reason"), "aria-label": t("field.reason"), class: "reason" });
      const row = h("div", { class: "decide", dataset: { behaviour: b.id } }, reason);
      row.append(
        h("button", { type: "button", class: "approve", onclick: decide(b, "approve", reason, row) }, t("review.approve")),
        h("button", { type: "button", class: "warn reject", onclick: decide(b, "reject", reason, row) }, t("review.reject")));
      return row;
    } },
  ];
  // One scene at a time, when a queue holds many: GET /v1/admin/reviews?type=…
  const card = h("section", { class: "card" });
  const show = (type) => card.replaceChildren(pagedTable((cursor) => api.get("/v1/admin/reviews", { cursor, ...(type ? { type } : {}) }), columns));
  const filter = h("select", { id: "review-type", "aria-label": t("field.behaviour"), onchange: () => show(filter.value) },
    h("option", { value: "" }, t("review.type.all")),
    behaviourTypes().map((k) => h("option", { value: k }, behaviourName(k))));
  main.append(h("h1", {}, t("menu.reviews")), h("p", { class: "muted" }, t("review.hint")),
    h("label", { class: "inline" }, `${t("field.behaviour")} `, filter), status, card);
  show("");
}
