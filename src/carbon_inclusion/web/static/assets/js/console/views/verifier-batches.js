// A verifier's batches: those proposed for verification first.
import * as api from "../../api.js";
import { h, pagedTable, num, badge, day, grams } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function verifierBatches(main) {
  const filter = h("select", { id: "vbatch-filter", onchange: () => draw() },
    ["proposed", "verified", "returned", "issued", ""].map((s) => h("option", { value: s }, s ? t(`status.${s}`) : t("filter.all"))));
  const listBox = h("div");
  function draw() {
    listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/verifier/batches", { cursor, status: filter.value }), [
      { label: t("field.methodology"), cell: (b) => h("a", { href: `#/verify/${b.id}`, dataset: { batch: b.id } }, `${b.methodology_code} v${b.methodology_versions.join(",")}`) },
      { label: t("field.vintage"), value: (b) => `${day(b.vintage_from)} – ${day(b.vintage_to)}` },
      { label: t("batch.quantity"), value: (b) => `${num(b.quantity)} t`, num: true },
      { label: t("field.behaviours"), value: (b) => num(b.behaviours), num: true },
      { label: t("batch.allocated"), value: (b) => grams(b.allocated_g), num: true },
      { label: t("field.status"), cell: (b) => badge(b.status) },
    ]));
  }
  main.append(h("h1", {}, t("menu.verify")),
    h("section", { class: "card" }, h("label", { class: "field inline" }, h("span", {}, t("field.status")), filter), listBox));
  draw();
}
