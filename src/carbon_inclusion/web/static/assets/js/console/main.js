// The console: sign-in, the menu of the signed-in role, and a hash router (#/view/param…)
// that hands each view its <main>. Views live in views/, one module each.
import * as api from "../api.js";
import { h, clear, problemBox, form } from "../dom.js";
import { t, applyStatic, langSwitch, onLang } from "../i18n.js";
import { ROUTES, HOME } from "./routes.js";
import { loadBehaviourNames } from "../names.js";

const root = document.getElementById("app");
let user = null;

function match(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  // Any view may be opened by anyone signed in: what it shows is what the API answers
  // (another role's view shows the API's 403). The menu lists the role's own views.
  for (const r of ROUTES) {
    const pat = r.path.split("/");
    if (pat.length !== parts.length) continue;
    const params = {};
    if (pat.every((p, i) => (p.startsWith(":") ? ((params[p.slice(1)] = parts[i]), true) : p === parts[i]))) {
      return { route: r, params };
    }
  }
  return null;
}

export function go(path) { location.hash = `#/${path}`; }

function nav(role, current) {
  return h("nav", { class: "menu" }, ROUTES.filter((r) => r.menu && r.roles.includes(role)).map((r) =>
    h("a", { href: `#/${r.path}`, class: current?.menu === r.menu ? "active" : null, dataset: { view: r.path } }, t(r.menu))));
}

async function render() {
  if (!api.session()) return signInPage();
  if (!user) {
    try { user = await api.get("/v1/me"); } catch { await api.signOut(); return signInPage(); }
  }
  await loadBehaviourNames();
  const found = match(location.hash);
  if (!found) {
    const home = HOME[user.role];
    if (home && location.hash !== `#/${home}`) { go(home); return; }
  }
  const main = h("main", { id: "view" });
  clear(root,
    h("header", { class: "top" },
      h("a", { class: "brand", href: "#/" }, t("app.console")),
      nav(user.role, found?.route),
      h("div", { class: "who" },
        h("span", { id: "who" }, `${user.nickname} · ${t(`role.${user.role}`)}`),
        langSwitch(),
        h("button", { type: "button", class: "secondary", id: "sign-out", onclick: async () => { await api.signOut(); user = null; go(""); render(); } }, t("auth.signout")))),
    main);
  if (!found) {
    main.append(h("section", { class: "card" }, h("h1", {}, t("console.norole")), h("p", {}, t("console.norole.text"))));
    return;
  }
  main.append(h("p", { class: "empty" }, t("list.loading")));
  try {
    const module = await import(`./views/${found.route.view}.js`);
    main.replaceChildren();
    await module.default(main, { params: found.params, user, go, rerender: render });
  } catch (err) {
    main.replaceChildren(problemBox(err));
  }
}

function signInPage() {
  const f = form([
    { name: "phone", label: t("auth.phone"), required: true },
    { name: "password", label: t("auth.password"), type: "password", required: true },
  ], t("auth.signin"), async (v) => {
    user = await api.signIn(v.phone.trim(), v.password);
    render();
  }, { id: "signin" });
  clear(root,
    h("header", { class: "top" }, h("span", { class: "brand" }, t("app.console")), h("div", { class: "who" }, langSwitch())),
    h("main", { id: "view", class: "narrow" },
      h("section", { class: "card" }, h("h1", {}, t("auth.title")), h("p", { class: "muted" }, t("auth.hint")), f)));
}

window.addEventListener("hashchange", render);
onLang(render);
applyStatic();
render().catch((err) => root.replaceChildren(problemBox(err)));
