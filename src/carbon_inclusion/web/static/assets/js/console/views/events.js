// The organisation's events, with their footprint and certificate.
import * as api from "../../api.js";
import { h, pagedTable, num, badge, day } from "../../dom.js";
import { t } from "../../i18n.js";

export default async function events(main) {
  main.append(h("h1", {}, t("menu.events")), h("section", { class: "card" },
    pagedTable((cursor) => api.get("/v1/events", { cursor }), [
      { label: t("event.name"), cell: (e) => h("a", { href: `#/events/${e.id}` }, e.name) },
      { label: t("event.dates"), value: (e) => `${day(e.starts_on)} – ${day(e.ends_on)}` },
      { label: t("event.attendees"), value: (e) => num(e.attendees), num: true },
      { label: t("event.total"), value: (e) => `${num(e.footprint.total_t)} t`, num: true },
      { label: t("field.status"), cell: (e) => badge(e.status) },
      { label: t("cert.certificate"), cell: (e) => (e.certificate_id ? h("a", { href: `/v1/certificates/${e.certificate_id}/html` }, t("cert.open")) : "–") },
    ])));
}
