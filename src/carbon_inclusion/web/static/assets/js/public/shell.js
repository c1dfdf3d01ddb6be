// The header of the public pages (home, registry, verify) and their language switch.
import { h, clear } from "../dom.js";
import { t, applyStatic, langSwitch, onLang } from "../i18n.js";
import { loadBehaviourNames } from "../names.js";

const LINKS = [["/", "pub.home"], ["/registry", "pub.registry"], ["/verify", "pub.verify"]];

/** Draws the page with `render(main)`, again whenever the language changes. */
export function page(render) {
  const root = document.getElementById("app");
  async function draw() {
    await loadBehaviourNames();
    const main = h("main", { id: "view" });
    clear(root,
      h("header", { class: "top public" },
        h("a", { class: "brand", href: "/" }, t("app.programme")),
        h("nav", { class: "menu" }, LINKS.map(([href, key]) => h("a", { href, class: location.pathname === href ? "active" : null }, t(key)))),
        h("div", { class: "who" }, h("a", { href: "/console", class: "console-link" }, t("pub.console")), langSwitch())),
      main,
      h("footer", {}, t("pub.footer"), " · ", h("a", { href: "/docs" }, "API")));
    await render(main);
  }
  onLang(draw);
  applyStatic();
  draw();
}
