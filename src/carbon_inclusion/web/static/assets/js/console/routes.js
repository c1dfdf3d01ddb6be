// Which views each role has: the same roles the API authorises. A view shown to a role
// the API refuses would only show the API's 403.
const A = ["admin"];
const V = ["verifier"];
const E = ["enterprise"];

// path: hash route ("name/:param"); view: module in views/; menu: i18n key when in the menu.
export const ROUTES = [
  { path: "dashboard", view: "dashboard", menu: "menu.dashboard", roles: A },
  { path: "methodologies", view: "methodologies", menu: "menu.methodologies", roles: A },
  { path: "methodologies/:code/:version", view: "methodology", roles: A },
  { path: "reviews", view: "reviews", menu: "menu.reviews", roles: A },
  { path: "partners", view: "partners", menu: "menu.partners", roles: A },
  { path: "rewards", view: "rewards", menu: "menu.rewards", roles: A },
  { path: "batches", view: "batches", menu: "menu.batches", roles: A },
  { path: "orders", view: "admin-orders", menu: "menu.orders", roles: A },
  { path: "organisations", view: "organisations", menu: "menu.organisations", roles: A },
  { path: "users", view: "users", menu: "menu.users", roles: A },
  { path: "certificates", view: "admin-certificates", menu: "menu.certificates", roles: A },
  { path: "audit", view: "audit", menu: "menu.audit", roles: A },
  { path: "verify", view: "verifier-batches", menu: "menu.verify", roles: V },
  { path: "verify/:id", view: "verifier-batch", roles: V },
  { path: "footprint", view: "footprint", menu: "menu.footprint", roles: E },
  { path: "events", view: "events", menu: "menu.events", roles: E },
  { path: "events/:id", view: "event", roles: E },
  { path: "buy", view: "enterprise-orders", menu: "menu.buy", roles: E },
  { path: "compliance", view: "compliance", menu: "menu.compliance", roles: E },
];

export const HOME = { admin: "dashboard", verifier: "verify", enterprise: "footprint" };
