// The audit log, newest first: who did what, when, to which object.
import * as api from "../../api.js";
import { h, pagedTable, when } from "../../dom.js";
import { t } from "../../i18n.js";

const shown = (v) => (v === null || v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));

export default async function audit(main) {
  main.append(h("h1", {}, t("menu.audit")), h("section", { class: "card" },
    pagedTable((cursor) => api.get("/v1/admin/audit", { cursor }), [
      { label: t("audit.at"), value: (a) => when(a.at) },
      { label: t("audit.actor"), cell: (a) => (a.actor_id ? h("code", {}, a.actor_id.slice(0, 8)) : t("audit.system")) },
      { label: t("audit.action"), cell: (a) => h("code", {}, a.action) },
      { label: t("audit.subject"), value: (a) => `${a.subject_type} ${a.subject_id}` },
      { label: t("audit.detail"), cell: (a) => h("code", { class: "detail" }, shown(a.detail)) },
    ])));
}
