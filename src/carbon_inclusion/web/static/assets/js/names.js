// Behaviour types by name in the page's language: the titles of the published methodologies
// (GET /v1/methodologies), so that a scene an administrator publishes tomorrow is named on
// every page without a release. Loaded once per page (loadBehaviourNames), then read
// synchronously; a type without a methodology, or a failed load, shows its code.
import * as api from "./api.js";
import { t, pick } from "./i18n.js";

let titles = null;

export async function loadBehaviourNames() {
  if (titles) return;
  const found = new Map();
  try {
    let cursor = null;
    do {
      const page = await api.get("/v1/methodologies", { limit: 100, ...(cursor ? { cursor } : {}) }, { auth: false });
      // Newest version first within a code is not promised: keep the latest published.
      for (const v of page.items) {
        if (v.kind !== "behaviour") continue;  // an event footprint scores no behaviour
        const seen = found.get(v.behaviour);
        if (!seen || (v.published_at || "") > (seen.published_at || "")) found.set(v.behaviour, v);
      }
      cursor = page.next_cursor;
    } while (cursor);
  } catch {
    // the names are a nicety: a page still shows the codes
  }
  titles = new Map([...found].map(([k, v]) => [k, v.title]));
}

export function behaviourName(type) {
  const title = titles?.get(type);
  if (title) return pick(title);
  const known = t(`type.${type}`);
  return known === `type.${type}` ? type : known;
}

/** The behaviour types a published methodology scores, sorted by name. */
export function behaviourTypes() {
  return [...(titles?.keys() || [])].sort((a, b) => behaviourName(a).localeCompare(behaviourName(b)));
}
