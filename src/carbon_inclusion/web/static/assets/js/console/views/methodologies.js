// Methodology versions, drafts included; a new draft starts as a copy of a version.
import * as api from "../../api.js";
import { h, section, pagedTable, badge, when, attempt } from "../../dom.js";
import { t, pick } from "../../i18n.js";

export default async function methodologies(main, { go }) {
  const status = h("div");
  const list = pagedTable((cursor) => api.get("/v1/admin/methodologies", { cursor, limit: 50 }), [
    { label: t("field.code"), cell: (m) => h("a", { href: `#/methodologies/${encodeURIComponent(m.code)}/${m.version}`, dataset: { version: `${m.code}/${m.version}` } }, `${m.code} v${m.version}`) },
    { label: t("field.title"), value: (m) => pick(m.title) },
    { label: t("field.behaviour"), key: "behaviour" },
    { label: t("field.status"), cell: (m) => badge(m.status) },
    { label: t("field.in_force"), value: (m) => `${when(m.in_force_from)} – ${m.in_force_to ? when(m.in_force_to) : "…"}` },
    { label: "", cell: (m) => h("button", { type: "button", class: "secondary", onclick: () => copy(m) }, t("meth.newdraft")) },
  ]);
  async function copy(m) {
    // The next version number is asked for; the API refuses one that exists (409).
    const version = Number(prompt(t("meth.newversion"), String(m.version + 1)));
    if (!version) return;
    const created = await attempt(status, () => api.post("/v1/admin/methodologies", { ...m.document, version }));
    if (created) go(`methodologies/${encodeURIComponent(created.code)}/${created.version}`);
  }
  main.append(h("h1", {}, t("menu.methodologies")), status, section(null, list));
}
