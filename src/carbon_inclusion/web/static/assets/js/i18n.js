// Languages: Chinese first, English on request; the choice is remembered (localStorage).
// Every string of the pages is in DICT (strings.js): t(name) in code, data-i18n in HTML.
import { zh, en } from "./strings.js";

const KEY = "ci.lang";
const DICT = { zh, en };
const listeners = [];

export function lang() {
  const chosen = localStorage.getItem(KEY);
  return chosen === "en" ? "en" : "zh";
}

export function t(key, vars) {
  let s = DICT[lang()][key] ?? DICT.zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

/** A bilingual value from the API ({zh, en} or name_zh/name_en) in the current language. */
export function pick(obj, base = "name") {
  if (!obj) return "";
  if (typeof obj === "string") return obj;
  const l = lang();
  return obj[l] ?? obj[`${base}_${l}`] ?? obj.zh ?? obj[`${base}_zh`] ?? "";
}

export function applyStatic(root = document) {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

export function setLang(l) {
  localStorage.setItem(KEY, l);
  applyStatic();
  for (const f of listeners) f(l);
}

export function onLang(f) { listeners.push(f); }

/** The 中文 / English switch, as a button that shows the other language. */
export function langSwitch() {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "lang";
  b.id = "lang-switch";
  const label = () => { b.textContent = lang() === "zh" ? "English" : "中文"; };
  label();
  b.addEventListener("click", () => { setLang(lang() === "zh" ? "en" : "zh"); label(); });
  return b;
}
