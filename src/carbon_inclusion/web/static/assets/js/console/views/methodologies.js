// Methodology versions, drafts included; a new draft starts as a copy of a version, with
// its own version number and start (the API refuses an overlap, at the field).
import * as api from "../../api.js";
import { h, section, pagedTable, badge, when, form } from "../../dom.js";
import { t, pick } from "../../i18n.js";

export default async function methodologies(main, { go }) {
  const draftBox = h("div", { id: "new-draft" });
  const list = pagedTable((cursor) => api.get("/v1/admin/methodologies", { cursor, limit: 50 }), [
    { label: t("field.code"), cell: (m) => h("a", { href: `#/methodologies/${encodeURIComponent(m.code)}/${m.version}`, dataset: { version: `${m.code}/${m.version}` } }, `${m.code} v${m.version}`) },
    { label: t("field.title"), value: (m) => pick(m.title) },
    { label: t("field.behaviour"), key: "behaviour" },
    { label: t("field.status"), cell: (m) => badge(m.status) },
    { label: t("field.in_force"), value: (m) => `${when(m.in_force_from)} – ${m.in_force_to ? when(m.in_force_to) : "…"}` },
    { label: "", cell: (m) => h("button", { type: "button", class: "secondary copy", onclick: () => copy(m) }, t("meth.newdraft")) },
  ]);
  function copy(m) {
    const f = form([
      { name: "version", label: t("meth.newversion"), type: "number", value: m.version + 1, required: true },
      { name: "effective_from", label: t("meth.effective_from"), value: m.document.effective_from, required: true },
    ], t("meth.createdraft"), async (v) => {
      const created = await api.post("/v1/admin/methodologies", { ...m.document, version: Number(v.version), effective_from: v.effective_from });
      go(`methodologies/${encodeURIComponent(created.code)}/${created.version}`);
    }, { id: "draft-form" });
    draftBox.replaceChildren(section(`${t("meth.newdraft")} · ${m.code} v${m.version}`, f));
    draftBox.scrollIntoView();
  }
  main.append(h("h1", {}, t("menu.methodologies")), draftBox, section(null, list));
}
