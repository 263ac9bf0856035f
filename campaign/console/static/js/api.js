// The API client: the key lives in sessionStorage (this tab only) and travels in a header.
const KEY = "campaign-console.key";
const SCOPE = "campaign-console.scope";
export const BASE = "/api/v1";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get scope() { return sessionStorage.getItem(SCOPE); },
  get operator() { return sessionStorage.getItem(SCOPE) === "operator"; },
  save(key, scope) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(SCOPE, scope); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(SCOPE); },
};

export class ApiError extends Error {
  constructor(status, message, errors = []) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

async function problemOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: keep the status text */ }
  const detail = (body && (body.detail || body.title)) || response.statusText || "request failed";
  return new ApiError(response.status, String(detail), (body && body.errors) || []);
}

/** Call the API. `json` sends a JSON body, `body` anything fetch takes; `raw` returns the
 *  Response. A 401 signs the tab out (the key was removed or mistyped). */
export async function api(path, { method = "GET", json, body, headers = {}, raw = false, key } = {}) {
  const sent = { Accept: "application/json", ...headers };
  const token = key ?? session.key;
  if (token) sent.Authorization = `Bearer ${token}`;
  if (json !== undefined) { sent["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  let response;
  try {
    response = await fetch(BASE + path, { method, headers: sent, body, cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError(0, "Cannot reach the API: check that `campaign api` is running and this page's address is right.");
  }
  if (!response.ok) {
    const error = await problemOf(response);
    if (response.status === 401 && key === undefined) window.dispatchEvent(new CustomEvent("console:signed-out", { detail: error.message }));
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

const probes = new Map();

/** Whether the API offers a route (for features other releases add: rerun, forecast). A GET on
 *  a POST-only route answers 405 and on a missing one 404; the answer is cached per path shape. */
export async function offers(shape, path) {
  if (!probes.has(shape)) {
    probes.set(shape, (async () => {
      try { await api(path); return true; }
      catch (error) { return error.status !== 404 && error.status !== 0 && error.status !== 401; }
    })());
  }
  return probes.get(shape);
}
