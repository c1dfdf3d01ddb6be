// Organisations (enterprises and verification bodies): list, create, add a user, emissions.
import * as api from "../../api.js";
import { h, section, form, pagedTable, notice, when, attempt, table, num } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function organisations(main) {
  const status = h("div");
  const filter = h("select", { onchange: () => draw() },
    ["", "enterprise", "verification_body"].map((k) => h("option", { value: k }, k ? t(`org.${k}`) : t("filter.all"))));
  const listBox = h("div");
  const detail = h("div");
  function draw() {
    listBox.replaceChildren(pagedTable((cursor) => api.get("/v1/admin/organisations", { cursor, kind: filter.value }), [
      { label: t("field.name"), key: "name" },
      { label: t("field.kind"), value: (o) => t(`org.${o.kind || "enterprise"}`) },
      { label: t("org.users"), value: (o) => (o.users ?? o.user_count ?? "–"), num: true },
      { label: t("field.created"), value: (o) => when(o.created_at) },
      { label: "", cell: (o) => h("button", { type: "button", class: "secondary", onclick: () => open(o) }, t("action.open")) },
    ]));
  }
  async function open(o) {
    const member = form([
      { name: "phone", label: t("auth.phone"), required: true },
      { name: "nickname", label: t("field.nickname"), required: true },
      { name: "password", label: t("auth.password"), type: "password", required: true },
    ], t("org.adduser"), async (v) => {
      const u = await api.post(`/v1/admin/organisations/${o.id}/users`, v);
      member.append(notice(t("org.useradded", { name: u.nickname, role: t(`role.${u.role}`) }), "ok"));
    });
    const emissions = h("div");
    detail.replaceChildren(section(`${o.name} · ${t(`org.${o.kind || "enterprise"}`)}`, member, emissions));
    if ((o.kind || "enterprise") === "enterprise") {
      const reg = await attempt(emissions, () => api.get(`/v1/admin/organisations/${o.id}/emissions`));
      if (reg) emissions.append(h("h3", {}, t("compliance.register")), table([
        { label: t("field.year"), key: "year" },
        { label: t("compliance.verified"), value: (y) => `${num(y.verified_emissions_t)} t`, num: true },
        { label: t("compliance.cap"), value: (y) => `${num(y.cap_t)} t`, num: true },
        { label: t("compliance.offset"), value: (y) => `${num(y.offset_t)} t`, num: true },
      ], reg.items));
    }
    detail.scrollIntoView();
  }
  const create = form([
    { name: "name", label: t("field.name"), required: true },
    { name: "kind", label: t("field.kind"), type: "select", options: [["enterprise", t("org.enterprise")], ["verification_body", t("org.verification_body")]] },
  ], t("org.create"), async (v) => {
    const o = await api.post("/v1/admin/organisations", v);
    create.append(notice(t("org.created", { name: o.name }), "ok"));
    draw();
  }, { id: "org-create" });
  main.append(h("h1", {}, t("menu.organisations")), status,
    section(null, h("label", { class: "field inline" }, h("span", {}, t("field.kind")), filter), listBox), detail, section(t("org.create"), create));
  draw();
}
