// Compliance offsets: the register of verified emissions (entered by verifiers), and
// offsets against a year's cap.
import * as api from "../../api.js";
import { h, section, form, attempt, notice, num, table } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function compliance(main) {
  const status = h("div");
  const register = h("div", { id: "register" });
  async function load() {
    const reg = await attempt(register, () => api.get("/v1/organisation/emissions"));
    if (!reg) return;
    register.append(h("p", { class: "muted" }, t("compliance.capshare", { share: num(Number(reg.cap_share) * 100, 1) })),
      table([
        { label: t("field.year"), key: "year" },
        { label: t("compliance.verified"), value: (y) => `${num(y.verified_emissions_t)} t`, num: true },
        { label: t("compliance.cap"), value: (y) => `${num(y.cap_t)} t`, num: true },
        { label: t("compliance.offset"), value: (y) => `${num(y.offset_t)} t`, num: true },
        { label: t("compliance.remaining"), value: (y) => `${num(y.remaining_t)} t`, num: true },
        { label: t("compliance.revision"), value: (y) => (y.entries[0] ? `r${y.entries[0].revision} · ${y.entries[0].report_reference || ""}` : "–") },
      ], reg.items));
  }
  const offset = form([
    { name: "year", label: t("field.year"), type: "number", required: true },
    { name: "quantity_t", label: t("order.quantity"), type: "number", required: true },
  ], t("compliance.offset.do"), async (v) => {
    const cert = await api.post("/v1/compliance-offsets", { year: Number(v.year), quantity_t: Number(v.quantity_t) }, { idempotent: true });
    status.replaceChildren(notice([t("compliance.done"), " ", h("a", { href: `/v1/certificates/${cert.id}/html` }, cert.number)], "ok"));
    register.replaceChildren();
    await load();
  }, { id: "offset-form" });
  offset.classList.add("inline");
  main.append(h("h1", {}, t("menu.compliance")), status, section(t("compliance.register"), register), section(t("compliance.offset.do"), offset));
  await load();
}
