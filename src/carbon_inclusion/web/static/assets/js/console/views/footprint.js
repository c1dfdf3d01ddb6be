// The event footprint calculator: the form of an event's figures; the API scores it
// (POST /v1/events) and answers the footprint line by line.
import * as api from "../../api.js";
import { h, section, showFieldErrors, problemBox, num, grams, table } from "../../dom.js";
import { t } from "../../i18n.js";

const MODES = ["air", "rail", "car", "bus", "coach", "metro"];
const FIGURES = [
  ["meals", "integer"], ["vegetarian_meals", "integer"], ["hotel_room_nights", "integer"],
  ["electricity_kwh", "decimal"], ["natural_gas_m3", "decimal"], ["diesel_l", "decimal"],
  ["heat_gj", "decimal"], ["heat_kwh", "decimal"], ["waste_kg", "decimal"],
];

function field(name, input, label = t(`event.${name}`)) {
  return h("label", { class: "field", dataset: { field: name } }, h("span", {}, label), input, h("small", { class: "field-error" }));
}

/** The figures form, shared with the actual-figures form; read() answers the body. */
export function figuresForm(withEvent = true) {
  const inputs = {};
  const mk = (name, type = "text", attrs = {}) => (inputs[name] = h("input", { type, name, ...attrs }));
  const legs = h("tbody");
  const materials = h("tbody");
  function legRow(i) {
    const row = h("tr", { class: "leg" },
      h("td", { dataset: { field: `travel[${i}].mode` } }, h("select", { name: "mode" }, MODES.map((m) => h("option", { value: m }, t(`mode.${m}`)))), h("small", { class: "field-error" })),
      h("td", { dataset: { field: `travel[${i}].distance_km` } }, h("input", { name: "distance_km", inputmode: "decimal" }), h("small", { class: "field-error" })),
      h("td", { dataset: { field: `travel[${i}].people` } }, h("input", { name: "people", type: "number", min: 1 }), h("small", { class: "field-error" })),
      h("td", {}, h("input", { name: "round_trip", type: "checkbox", checked: true })),
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => row.remove() }, "✕")));
    return row;
  }
  function materialRow(i) {
    const row = h("tr", { class: "material" },
      h("td", { dataset: { field: `materials[${i}].material` } }, h("select", { name: "material" }, ["paper", "plastic"].map((m) => h("option", { value: m }, t(`material.${m}`)))), h("small", { class: "field-error" })),
      h("td", { dataset: { field: `materials[${i}].kg` } }, h("input", { name: "kg", inputmode: "decimal" }), h("small", { class: "field-error" })),
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => row.remove() }, "✕")));
    return row;
  }
  const el = h("div", { class: "figures" },
    withEvent ? h("div", { class: "grid3" },
      field("name", mk("name")), field("venue", mk("venue")),
      field("starts_on", mk("starts_on", "date")), field("ends_on", mk("ends_on", "date"))) : null,
    h("div", { class: "grid3" }, field("attendees", mk("attendees", "number", { min: 1 })),
      FIGURES.map(([n, kind]) => field(n, mk(n, kind === "integer" ? "number" : "text", kind === "integer" ? { min: 0 } : { inputmode: "decimal" })))),
    h("h3", { dataset: { field: "travel" } }, t("event.travel"), h("small", { class: "field-error" })),
    h("table", { class: "legs" }, h("thead", {}, h("tr", {}, [t("event.mode"), t("event.distance_km"), t("event.people"), t("event.round_trip"), ""].map((c) => h("th", {}, c)))), legs),
    h("button", { type: "button", class: "secondary", id: "add-leg", onclick: () => legs.append(legRow(legs.children.length)) }, t("event.addleg")),
    h("h3", { dataset: { field: "materials" } }, t("event.materials"), h("small", { class: "field-error" })),
    h("table", { class: "materials" }, h("thead", {}, h("tr", {}, [t("event.material"), t("event.kg"), ""].map((c) => h("th", {}, c)))), materials),
    h("button", { type: "button", class: "secondary", id: "add-material", onclick: () => materials.append(materialRow(materials.children.length)) }, t("event.addmaterial")));
  function read() {
    const body = {};
    for (const [name, input] of Object.entries(inputs)) {
      const v = input.value.trim();
      if (v === "") continue;
      body[name] = input.type === "number" ? Number(v) : v;
    }
    const travel = [...legs.children].map((r) => ({
      mode: r.querySelector("[name=mode]").value, distance_km: r.querySelector("[name=distance_km]").value.trim(),
      people: Number(r.querySelector("[name=people]").value), round_trip: r.querySelector("[name=round_trip]").checked }));
    if (travel.length) body.travel = travel;
    const mats = [...materials.children].map((r) => ({ material: r.querySelector("[name=material]").value, kg: r.querySelector("[name=kg]").value.trim() }));
    if (mats.length) body.materials = mats;
    return body;
  }
  return { el, read, inputs, addLeg: () => legs.append(legRow(legs.children.length)) };
}

const sourceName = (s) => (t(`category.${s}`) === `category.${s}` ? s : t(`category.${s}`));

export function footprintView(fp) {
  return h("div", { class: "footprint", id: "footprint" },
    h("p", { class: "kpi" }, h("span", {}, t("event.total")), h("strong", { id: "footprint-total" }, `${num(fp.total_t)} t CO2e`),
      h("small", {}, `${t("event.credits_needed")}: `, h("b", { id: "credits-needed" }, num(fp.credits_needed)), ` · ${fp.methodology_code} v${fp.methodology_version} · ${t(`basis.${fp.basis || "estimated"}`)}`)),
    table([
      { label: t("event.source"), value: (l) => sourceName(l.source) },
      { label: t("event.category"), key: "category" },
      { label: t("event.field"), key: "field" },
      { label: t("event.quantity"), value: (l) => num(l.quantity), num: true },
      { label: t("event.factor"), value: (l) => (l.factor === null ? "–" : num(l.factor)), num: true },
      { label: t("event.grams"), value: (l) => grams(l.grams), num: true },
    ], fp.lines),
    h("h3", {}, t("event.breakdown")),
    table([
      { label: t("event.source"), value: (s) => sourceName(s.source) },
      { label: t("event.grams"), value: (s) => grams(s.grams), num: true },
      { label: t("event.share"), value: (s) => `${num(Number(s.share) * 100, 1)} %`, num: true },
    ], fp.breakdown));
}

export default async function footprint(main, { go }) {
  const figures = figuresForm(true);
  figures.addLeg();
  const status = h("div", { id: "footprint-status" });
  const submit = h("button", { type: "submit", id: "compute" }, t("event.compute"));
  const f = h("form", { class: "form", id: "event-form" }, figures.el, h("div", { class: "actions" }, submit), status);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    for (const el of f.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of f.querySelectorAll(".invalid")) el.classList.remove("invalid");
    submit.disabled = true;
    try {
      const event = await api.post("/v1/events", figures.read());
      go(`events/${event.id}`);
    } catch (err) {
      showFieldErrors(f, err);
      status.append(problemBox(err));
    } finally { submit.disabled = false; }
  });
  main.append(h("h1", {}, t("menu.footprint")), h("p", { class: "muted" }, t("event.hint")), section(null, f));
}
