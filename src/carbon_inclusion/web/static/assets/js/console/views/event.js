// One event: its footprint line by line, neutralise it (retire credits held), its
// certificate; after the event, its actual figures.
import * as api from "../../api.js";
import { h, add, section, attempt, notice, num, badge, day, showFieldErrors, problemBox } from "../../dom.js";
import { t } from "../../i18n.js";
import { footprintView, figuresForm } from "./footprint.js";

export default async function event(main, { params, rerender }) {
  const e = await api.get(`/v1/events/${params.id}`);
  const status = h("div", { id: "event-status" });
  const actions = h("div", { class: "actions" });
  if (!e.certificate_id || e.awaiting_actuals) {
    actions.append(h("button", { type: "button", id: "neutralise", onclick: async () => {
      const cert = await attempt(status, () => api.post(`/v1/events/${e.id}/neutralize`));
      if (cert) {
        status.append(notice([t("event.neutralised"), " ", h("a", { href: `/v1/certificates/${cert.id}/html`, id: "certificate-link" }, cert.number)], "ok"));
        actions.replaceChildren();
      }
    } }, t("event.neutralise")));
  }
  add(main,
    h("h1", {}, e.name),
    h("p", {}, badge(e.status), ` ${e.venue} · ${day(e.starts_on)} – ${day(e.ends_on)} · ${num(e.attendees)} ${t("event.attendees")}`),
    e.certificate_id ? h("p", {}, t("cert.certificate"), ": ",
      h("a", { href: `/v1/certificates/${e.certificate_id}/html`, id: "certificate-link" }, t("cert.open")), " · ",
      h("a", { href: `/verify?c=${e.certificate_id}` }, t("cert.verify"))) : null,
    status, actions,
    section(t("event.footprint"), footprintView(e.footprint)),
    e.estimate ? section(t("event.estimate"), footprintView(e.estimate)) : null,
    e.true_up ? section(t("event.trueup"), h("dl", { class: "report" }, Object.entries(e.true_up).map(([k, v]) => [h("dt", {}, t(`report.${k}`)), h("dd", {}, String(v ?? "–"))]))) : null);
  if (!e.actuals_submitted_at && e.footprint.basis !== "actual") {
    const figures = figuresForm(false);
    const st = h("div");
    const f = h("form", { class: "form", id: "actuals-form" }, figures.el, h("div", { class: "actions" }, h("button", { type: "submit" }, t("event.actuals.submit"))), st);
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      st.replaceChildren();
      try {
        await api.post(`/v1/events/${e.id}/actuals`, figures.read(), { idempotent: true });
        rerender();
      } catch (err) { showFieldErrors(f, err); st.append(problemBox(err)); }
    });
    main.append(h("details", { class: "card" }, h("summary", {}, t("event.actuals")), h("p", { class: "muted" }, t("event.actuals.hint")), f));
  }
}
