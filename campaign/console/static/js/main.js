// The shell: sign-in, the header, the router (#/…), and the helpers every view shares.
import { api, session } from "./api.js";
import { h, replace, field } from "./dom.js";
import { zoneLabel } from "./format.js";
import { listView } from "./list.js";
import { campaignView } from "./campaign.js";
import { createView } from "./create.js";
import { dncView } from "./dnc.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
const toastBox = document.getElementById("toast");
const announcer = document.getElementById("announce");
let cleanup = null;
let toastTimer = null;

const ctx = {
  get operator() { return session.operator; },
  toast(message) {
    toastBox.textContent = message;
    toastBox.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toastBox.hidden = true; }, 6000);
  },
  announce(message) { announcer.textContent = message; },
  fail(error) {
    const text = error && error.status === 0
      ? `${error.message} Retrying by itself.`
      : `${error.message || error}`;
    banner.textContent = text;
    banner.hidden = false;
  },
  clearFail() { banner.hidden = true; banner.textContent = ""; },
  confirm({ title, text, ok }) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = ok;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  },
};

function signIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  ctx.clearFail();
  const input = h("input", { type: "password", name: "key", autocomplete: "off", spellcheck: "false", required: true });
  const error = h("p", { class: "error", role: "alert", text: message || "" });
  error.style.color = "var(--bad)";
  const form = h("form", { class: "panel signin stack", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in" }),
    field("API key", input, "A key from the server's API_KEYS (key:operator or key:read)."),
    error,
    h("button", { type: "submit", text: "Sign in" }),
    h("p", { class: "muted", text: "The key is kept in this browser tab only (sessionStorage), sent in the Authorization header, and never put in a URL. Closing the tab forgets it." }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) { error.textContent = "Type your API key first."; input.focus(); return; }
    error.textContent = "";
    try {
      const me = await api("/me", { key });
      session.save(key, me.scope);
      route();
    } catch (failure) {
      error.textContent = failure.status === 401
        ? "This key was refused: it is not one of the server's API_KEYS. Check it for typos, or ask whoever runs the engine for a key."
        : failure.message;
      input.select();
    }
  });
  replace(main, form);
  input.focus();
}

function chrome() {
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("zone").textContent = `Times in ${zoneLabel()}`;
  document.getElementById("scope").textContent = session.operator ? "operator key" : "read-only key";
  for (const link of document.querySelectorAll("[data-operator]")) link.hidden = !session.operator;
}

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  ctx.clearFail();
  if (!session.key) { signIn(); return; }
  chrome();
  const hash = location.hash || "#/";
  const campaign = hash.match(/^#\/campaigns\/(\d+)(?:\/([a-z]+))?$/);
  let section = "campaigns";
  if (campaign) cleanup = campaignView(main, Number(campaign[1]), campaign[2] || "overview", ctx);
  else if (hash === "#/new" && session.operator) { section = "new"; cleanup = createView(main, ctx); }
  else if (hash === "#/dnc") { section = "dnc"; cleanup = dncView(main, ctx); }
  else cleanup = listView(main, ctx);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

document.getElementById("signout").addEventListener("click", () => {
  session.clear();
  history.replaceState(null, "", "#/");
  route();
});
window.addEventListener("console:signed-out", (event) => {
  session.clear();
  if (cleanup) cleanup();
  cleanup = null;
  signIn(`Signed out: the API refused the key (${event.detail}). Sign in again with a valid key.`);
});
window.addEventListener("hashchange", () => { route(); main.focus({ preventScroll: true }); });
route();
