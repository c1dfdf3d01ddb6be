// The API client: every call of the console and the public pages goes through here.
// Tokens live in sessionStorage (this tab only); errors are RFC 9457 problem+json,
// thrown as ApiError with the API's status, code and per-field errors.

const KEY = "ci.session";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "";
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.errors = problem.errors || [];
    this.problem = problem;
  }
}

export function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
}

function keep(tokens) {
  if (tokens) sessionStorage.setItem(KEY, JSON.stringify(tokens));
  else sessionStorage.removeItem(KEY);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try { return await response.json(); } catch { /* fall through */ }
  }
  return { title: response.statusText, status: response.status };
}

let refreshing = null;

async function refresh() {
  const s = session();
  if (!s || !s.refresh_token) return false;
  refreshing ??= fetch("/v1/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  }).then(async (r) => {
    if (!r.ok) { keep(null); return false; }
    keep(await r.json());
    return true;
  }).finally(() => { refreshing = null; });
  return refreshing;
}

/**
 * request("GET", "/v1/admin/orders", {query: {status: "reserved"}})
 * options: body (sent as JSON), query, accept ("json" | "blob" | "text"),
 * idempotent (sends a fresh Idempotency-Key), auth (false: no token).
 */
export async function request(method, path, options = {}) {
  const { body, accept = "json", idempotent = false, auth = true } = options;
  const url = path + query(options.query);
  const send = async () => {
    const headers = { Accept: accept === "json" ? "application/json" : (options.mime || "*/*") };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID();
    const s = session();
    if (auth && s) headers.Authorization = `Bearer ${s.access_token}`;
    return fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let response = await send();
  if (response.status === 401 && auth && session() && path !== "/v1/auth/token") {
    if (await refresh()) response = await send();
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (response.status === 204) return null;
  if (accept === "blob") return response.blob();
  if (accept === "text") return response.text();
  return response.json();
}

export const get = (path, q, o = {}) => request("GET", path, { ...o, query: q });
export const post = (path, body, o = {}) => request("POST", path, { ...o, body });
export const put = (path, body, o = {}) => request("PUT", path, { ...o, body });

export async function signIn(phone, password) {
  const tokens = await request("POST", "/v1/auth/token", { body: { phone, password }, auth: false });
  keep(tokens);
  return request("GET", "/v1/me");
}

export async function signOut() {
  const s = session();
  if (s) {
    try { await post("/v1/auth/logout", { refresh_token: s.refresh_token }); } catch { /* gone */ }
  }
  keep(null);
}

/** Fetches a file with the user's token and hands it to the browser as a download. */
export async function download(path, filename, mime, q) {
  const blob = await request("GET", path, { query: q, accept: "blob", mime });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
