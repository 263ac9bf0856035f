// Create a campaign: paste or load a spec (YAML or JSON), see every problem with its path, save.
import { api } from "./api.js";
import { h, replace, field, problemItem } from "./dom.js";
import { rate, count } from "./format.js";

const EXAMPLE = `name: renewals-november
gateway:
  bot: st-e38782ff-0d89-52e9-5678769a49fd
  caller: "+12706165788"
  machineDetection: detect
window:
  timezone: contact
  fallback_timezone: America/New_York
  hours: {mon-fri: "09:00-20:00", sat: "10:00-14:00"}
pacing: {cps: 10, max_live_calls: 50, max_call_duration: 30m}
retry:
  max_attempts: 5
  min_gap: 10m
  outcomes:
    busy: {delays: [2m, 10m, 30m]}
    no_answer: {delays: [1h], max: 2}
`;

export function createView(root, ctx) {
  const text = h("textarea", { rows: 22, spellcheck: "false", autocomplete: "off" });
  const fileInput = h("input", { type: "file", accept: ".yaml,.yml,.json,application/json,text/yaml" });
  const verdict = h("div", { role: "status", "aria-live": "polite" });
  const create = h("button", { type: "button", text: "Create campaign", disabled: true });
  let checked = null;
  let timer = null;
  let generation = 0;

  const check = async () => {
    const mine = ++generation;
    checked = null;
    create.disabled = true;
    if (!text.value.trim()) { replace(verdict, h("p", { class: "muted", text: "Paste a spec, load a file, or start from the example." })); return; }
    let problems = [];
    let document = null;
    try {
      document = (await api("/policy/parse", { method: "POST", body: text.value, headers: { "Content-Type": "application/yaml" } })).document;
      const echo = await api("/policy/check", { method: "POST", json: document });
      if (mine !== generation) return;
      checked = document;
      create.disabled = false;
      const p = echo.spec.pacing;
      replace(verdict, h("p", { class: "ok", text: `Valid: "${echo.spec.name}", ${rate(p.cps)} calls/s, up to ${count(p.max_live_calls)} live calls, at most ${count(echo.spec.retry.max_attempts)} attempts per contact.` }));
      return;
    } catch (error) {
      if (error.status === 0 || error.status === 401) { ctx.fail(error); return; }
      problems = error.errors && error.errors.length ? error.errors : [error.message];
    }
    if (mine !== generation) return;
    replace(verdict, h("p", { text: `${problems.length} problem${problems.length === 1 ? "" : "s"} to fix before saving:` }),
      h("ul", { class: "problems" }, problems.map(problemItem)));
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(check, 500); };
  text.addEventListener("input", later);
  fileInput.addEventListener("change", async () => {
    if (!fileInput.files.length) return;
    text.value = await fileInput.files[0].text();
    check();
  });
  create.addEventListener("click", async () => {
    if (!checked) return;
    create.disabled = true;
    try {
      const made = await api("/campaigns", { method: "POST", json: checked });
      ctx.toast(`Campaign #${made.id} created (draft). Upload contacts, then start it.`);
      location.hash = `#/campaigns/${made.id}/contacts`;
    } catch (error) {
      const problems = error.errors && error.errors.length ? error.errors : [error.message];
      replace(verdict, h("ul", { class: "problems" }, problems.map(problemItem)));
      create.disabled = false;
    }
  });

  replace(root,
    h("div", { class: "head" }, h("h1", { text: "New campaign" })),
    h("div", { class: "grid two" },
      h("section", { class: "panel stack", "aria-label": "Spec" },
        field("Campaign spec (YAML or JSON)", text, "The same spec as `campaign create -f`; it is checked as you type and nothing is saved until you create."),
        h("div", { class: "form-grid" }, field("Or load a file", fileInput)),
        h("div", { class: "buttons" },
          h("button", { type: "button", class: "secondary", text: "Use the example", onclick: () => { text.value = EXAMPLE; check(); } }),
          h("button", { type: "button", class: "secondary", text: "Check", onclick: check }),
          create)),
      h("section", { class: "panel", "aria-labelledby": "verdict-title" }, h("h2", { id: "verdict-title", text: "Check" }), verdict)));
  check();
  return () => clearTimeout(timer);
}
