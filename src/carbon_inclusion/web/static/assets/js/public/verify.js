// Anyone checks a certificate: by its number, id, URL (a QR code's), or a serial it retired;
// ?c=<id> arrives from a link. Valid, cancelled or superseded — as the API says.
import * as api from "../api.js";
import { h, section, attempt, num, when } from "../dom.js";
import { t } from "../i18n.js";
import { page } from "./shell.js";

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

const NUMBER = /^[A-Z]+-C-\d{4}-\d+$/i;

/** The certificate a text stands for: an id or a URL with one in it, a certificate number,
 *  or a serial the certificate retired. */
async function lookUp(text) {
  const s = text.trim();
  const id = s.match(UUID);
  if (id) return api.get(`/v1/certificates/${id[0]}`, {}, { auth: false });
  if (NUMBER.test(s)) return api.get(`/v1/certificates/numbers/${encodeURIComponent(s)}`, {}, { auth: false });
  // A retired serial leads to the certificate standing for it now.
  const serial = await api.get(`/v1/registry/serials/${encodeURIComponent(s)}`, {}, { auth: false });
  if (!serial.certificate_id) throw Object.assign(new Error(t("verify.nocert")), { status: 404, title: t("verify.nocert") });
  return api.get(`/v1/certificates/${serial.certificate_id}`, {}, { auth: false });
}

page(async (main) => {
  const params = new URLSearchParams(location.search);
  const input = h("input", { id: "certificate", name: "c", value: params.get("c") || "", placeholder: t("verify.placeholder"), "aria-label": t("verify.placeholder") });
  const result = h("div", { id: "verify-result" });
  const f = h("form", { class: "inline", id: "verify-form", action: "/verify" }, input, h("button", { type: "submit" }, t("verify.check")));
  f.addEventListener("submit", (ev) => { ev.preventDefault(); check(input.value); });
  async function check(text) {
    if (!text.trim()) return;
    const cert = await attempt(result, () => lookUp(text));
    if (!cert) return;
    history.replaceState(null, "", `/verify?c=${cert.id}`);
    result.replaceChildren(verdict(cert));
  }
  main.append(h("h1", {}, t("pub.verify")), h("p", { class: "muted" }, t("verify.lead")), section(null, f), result);
  if (input.value) check(input.value);
});

function verdict(cert) {
  const c = cert.content || {};
  const retired = c.retired || {};
  const e = c.event;
  const rows = [
    [t("cert.number"), cert.number],
    [t("cert.kind"), t(c.kind === "event" ? "cert.event" : "cert.compliance")],
    [t("field.organisation"), c.organisation?.name || "–"],
    e ? [t("cert.subject"), `${e.name} · ${e.venue} · ${e.starts_on === e.ends_on ? e.starts_on : `${e.starts_on} – ${e.ends_on}`}`] : null,
    e ? [t("event.total"), `${num(e.footprint_t, 3)} t CO2e (${e.methodology_code} v${e.methodology_version})`] : null,
    c.compliance ? [t("field.year"), String(c.compliance.year)] : null,
    [t("cert.quantity"), retired.quantity_t !== undefined ? `${num(retired.quantity_t, 3)} t CO2e` : "–"],
    cert.basis ? [t("cert.basis"), t(`basis.${cert.basis}`)] : null,
    [t("cert.issuer"), c.issuer || "–"],
    [t("field.issued"), when(cert.issued_at)],
    [t("cert.serials"), h("div", {}, (retired.serials || []).map((s) => h("div", { class: "mono" }, s.first === s.last ? s.first : `${s.first} – ${s.last.split("-").pop()}`)))],
    ["SHA-256", h("code", { class: "hash" }, cert.sha256)],
  ].filter(Boolean);
  const status = cert.status;
  return section(null,
    h("div", { class: `verdict v-${status}`, id: "verdict", dataset: { status } },
      h("strong", {}, t(`verify.${status}`)),
      status === "cancelled" && cert.cancel_reason ? h("p", {}, `${t("field.reason")}: ${cert.cancel_reason}`) : null,
      cert.replaced_by ? h("p", {}, t("verify.replaced"), " ", h("a", { href: `/verify?c=${cert.replaced_by}`, id: "replacement" }, t("cert.replacement"))) : null),
    h("dl", { class: "report" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("p", { class: "links" }, h("a", { href: `/v1/certificates/${cert.id}/html`, id: "certificate-page" }, t("cert.open")), " · ",
      h("a", { href: `/v1/certificates/${cert.id}/pdf` }, "PDF")));
}
