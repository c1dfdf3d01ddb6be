// Users: by role and search; disable or enable an account.
import * as api from "../../api.js";
import { h, pagedTable, attempt, when, badge } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function users(main) {
  const status = h("div");
  const role = h("select", { onchange: () => draw() },
    ["", "citizen", "enterprise", "verifier", "admin"].map((r) => h("option", { value: r }, r ? t(`role.${r}`) : t("filter.all"))));
  const q = h("input", { type: "search", placeholder: t("users.search"), "aria-label": t("users.search"), onchange: () => draw() });
  const listBox = h("div");
  function toggle(u) {
    const on = u.status !== "disabled";
    return h("button", { type: "button", class: on ? "warn" : "secondary", onclick: async () => {
      const done = await attempt(status, () => api.post(`/v1/admin/users/${u.id}/${on ? "disable" : "enable"}`));
      if (done) draw();
    } }, on ? t("users.disable") : t("users.enable"));
  }
  function draw() {
    listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/admin/users", { cursor, role: role.value, q: q.value.trim() }), [
      { label: t("field.nickname"), key: "nickname" },
      { label: t("auth.phone"), value: (u) => u.phone_masked || "–" },
      { label: t("field.role"), value: (u) => t(`role.${u.role}`) },
      { label: t("field.organisation"), value: (u) => u.organisation_name || u.organisation_id || "–" },
      { label: t("field.district"), value: (u) => u.district || "–" },
      { label: t("field.status"), cell: (u) => badge(u.status) },
      { label: t("field.created"), value: (u) => when(u.created_at) },
      { label: "", cell: toggle },
    ]));
  }
  main.append(h("h1", {}, t("menu.users")), status,
    h("section", { class: "card" }, h("div", { class: "inline" }, h("label", { class: "field inline" }, h("span", {}, t("field.role")), role), q), listBox));
  draw();
}
