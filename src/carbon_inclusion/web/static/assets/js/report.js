// A batch's monitoring report and behaviour list, shown as the API gives them (used by the
// verifier's console and the public registry). Arrays of objects become tables, objects
// definition lists, so a field the API adds shows without a change here.
import { h, table, pagedTable, num, grams } from "./dom.js";
import { t } from "./i18n.js";

const label = (k) => { const s = t(`report.${k}`); return s === `report.${k}` ? k.replaceAll("_", " ") : s; };

function scalar(k, v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "✓" : "✗";
  if (/_g$/.test(k) && v !== "") return grams(v);
  if (/_t$/.test(k)) return `${num(v)} t`;
  if (typeof v === "number") return num(v);
  return String(v);
}

export function reportView(report, depth = 0) {
  const dl = h("dl", { class: "report" });
  const blocks = [];
  for (const [k, v] of Object.entries(report)) {
    if (Array.isArray(v) && v.length && typeof v[0] === "object") {
      const cols = Object.keys(v[0]).map((c) => ({ label: label(c), value: (r) => (typeof r[c] === "object" && r[c] !== null ? JSON.stringify(r[c]) : scalar(c, r[c])), num: /(_g|_t|count|behaviours|quantity)$/.test(c) }));
      blocks.push(h("div", { class: "report-block", dataset: { key: k } }, h(depth ? "h4" : "h3", {}, label(k)), table(cols, v)));
    } else if (v && typeof v === "object" && !Array.isArray(v)) {
      blocks.push(h("div", { class: "report-block", dataset: { key: k } }, h(depth ? "h4" : "h3", {}, label(k)), reportView(v, depth + 1)));
    } else {
      dl.append(h("dt", {}, label(k)), h("dd", { dataset: { key: k } }, Array.isArray(v) ? (v.join(", ") || "–") : scalar(k, v)));
    }
  }
  return h("div", { class: "report-view" }, dl.childElementCount ? dl : null, blocks);
}

/** A paged behaviour list; fetchPage(query) answers {items, next_cursor}. */
export function behaviourList(fetchPage) {
  let columns = null;
  const cols = (item) => Object.keys(item).map((c) => ({ label: label(c), value: (r) => (typeof r[c] === "object" && r[c] !== null ? JSON.stringify(r[c]) : scalar(c, r[c])), num: /(_g|points)$/.test(c) }));
  const box = h("div", { class: "behaviours" });
  const first = fetchPage({ limit: 50 }).then((page) => {
    columns = page.items.length ? cols(page.items[0]) : [];
    let handed = false;
    box.replaceChildren(pagedTable((cursor) => {
      if (!handed) { handed = true; return Promise.resolve(page); }
      return fetchPage({ limit: 50, cursor });
    }, columns));
  }).catch(async (err) => {
    const { problemBox } = await import("./dom.js");
    box.replaceChildren(problemBox(err));
  });
  void first;
  box.append(h("p", { class: "empty" }, t("list.loading")));
  void table;
  return box;
}
