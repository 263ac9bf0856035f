// The pacing & retry tab: edit the two blocks in a form; problems come from the API's own spec
// validation (the code behind `campaign policy check`) and show next to their field.
import { api, session } from "./api.js";
import { h, replace, field, showProblems } from "./dom.js";
import { OUTCOMES } from "./format.js";

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** What the operator typed, as the spec would spell it: a number when it reads as one, else
 *  the text itself, so the API names the exact value it could not use. Empty: left out. */
function typed(input, { text = false } = {}) {
  const value = input.value.trim();
  if (value === "") return undefined;
  return !text && NUMBER.test(value) ? Number(value) : value;
}

function input(path, value, attrs = {}) {
  return h("input", { type: "text", "data-path": path, value: value ?? "", autocomplete: "off", ...attrs });
}

function pacingForm(pacing) {
  const fields = {
    cps: input("pacing.cps", pacing.cps, { inputmode: "decimal" }),
    max_live_calls: input("pacing.max_live_calls", pacing.max_live_calls, { inputmode: "numeric" }),
    max_call_duration: input("pacing.max_call_duration", pacing.max_call_duration),
    burst: input("pacing.burst", pacing.burst, { inputmode: "numeric" }),
  };
  const view = h("fieldset", { class: "panel" }, h("legend", { text: "Pacing" }), h("div", { class: "form-grid" },
    field("Calls per second", fields.cps, "dial-outs per second, all workers together"),
    field("Max live calls", fields.max_live_calls, "calls dialed and not yet ended"),
    field("Max call duration", fields.max_call_duration, "e.g. 30m; bounds an attempt's deadline"),
    field("Burst", fields.burst, "dial-outs allowed at once after a quiet spell")));
  const read = () => Object.fromEntries(Object.entries(fields)
    .map(([k, el]) => [k, typed(el, { text: k === "max_call_duration" })]).filter(([, v]) => v !== undefined));
  return { view, read };
}

function ruleRow(name, rule) {
  const kind = h("select", { "data-path": `retry.outcomes.${name}`, "aria-label": `${OUTCOMES[name]}: redial` },
    h("option", { value: "none", text: "No redial" }), h("option", { value: "delays", text: "After delays" }), h("option", { value: "backoff", text: "Backoff" }));
  kind.value = !rule ? "none" : rule.backoff ? "backoff" : "delays";
  const backoff = (rule && rule.backoff) || {};
  const cell = (key, label, value, attrs) => input(`retry.outcomes.${name}.${key}`, value, { "aria-label": `${OUTCOMES[name]}: ${label}`, ...attrs });
  const delays = cell("delays", "delays", rule && rule.delays ? rule.delays.join(", ") : "", { placeholder: "5m, 30m" });
  const base = cell("backoff.base", "backoff base", backoff.base, { placeholder: "1m", size: 5 });
  const factor = cell("backoff.factor", "backoff factor", backoff.factor, { placeholder: "2", size: 3 });
  const cap = cell("backoff.max", "backoff max", backoff.max, { placeholder: "30m", size: 5 });
  const jitter = cell("backoff.jitter", "backoff jitter", backoff.jitter, { placeholder: "0.2", size: 3 });
  const max = cell("max", "max attempts of this class", rule ? rule.max : "", { inputmode: "numeric", size: 4 });
  const counted = h("input", { type: "checkbox", "data-path": `retry.outcomes.${name}.counted`, "aria-label": `${OUTCOMES[name]}: counts toward max attempts` });
  counted.checked = rule ? rule.counted !== false : !["unavailable", "gateway_error"].includes(name);
  const errorSlot = (el) => {
    el.id = `r-${el.dataset.path.replace(/\W/g, "-")}`;
    el.setAttribute("aria-describedby", `${el.id}-error`);
    return h("div", { class: "error", id: `${el.id}-error` });
  };
  const schedule = h("div", {}, h("div", { class: "delays" }, delays, errorSlot(delays)),
    h("div", { class: "backoff" }, base, " × ", factor, " up to ", cap, " jitter ", jitter, errorSlot(base), errorSlot(factor), errorSlot(cap), errorSlot(jitter)));
  const sync = () => {
    schedule.querySelector(".delays").hidden = kind.value !== "delays";
    schedule.querySelector(".backoff").hidden = kind.value !== "backoff";
    for (const el of [max, counted]) el.disabled = kind.value === "none" || el.dataset.locked === "1";
  };
  kind.addEventListener("change", sync);
  const row = h("tr", {},
    h("th", { scope: "row", text: OUTCOMES[name] }),
    h("td", {}, kind, errorSlot(kind)), h("td", {}, schedule),
    h("td", {}, max, errorSlot(max)), h("td", {}, counted, errorSlot(counted)));
  const read = () => {
    if (kind.value === "none") return null;
    const out = kind.value === "delays"
      ? { delays: delays.value.split(/[\s,]+/).filter(Boolean) }
      : { backoff: Object.fromEntries([["base", typed(base, { text: true })], ["factor", typed(factor)], ["max", typed(cap, { text: true })], ["jitter", typed(jitter)]].filter(([, v]) => v !== undefined)) };
    const limit = typed(max);
    if (limit !== undefined) out.max = limit;
    out.counted = counted.checked;
    return out;
  };
  return { row, read, sync };
}

function retryForm(retry) {
  const fields = {
    max_attempts: input("retry.max_attempts", retry.max_attempts, { inputmode: "numeric" }),
    per_day: input("retry.per_day", retry.per_day, { inputmode: "numeric" }),
    per_week: input("retry.per_week", retry.per_week, { inputmode: "numeric" }),
    min_gap: input("retry.min_gap", retry.min_gap),
  };
  const rules = Object.keys(OUTCOMES).map((name) => ruleRow(name, (retry.outcomes || {})[name]));
  const view = h("fieldset", { class: "panel" }, h("legend", { text: "Retry policy" }),
    h("div", { class: "form-grid" },
      field("Max attempts per contact", fields.max_attempts, "all outcomes together"),
      field("Per local day", fields.per_day, "empty: no daily cap"),
      field("Per 7 days", fields.per_week, "empty: no weekly cap"),
      field("Min gap between calls", fields.min_gap, "e.g. 10m; empty: none")),
    h("div", { class: "scroll" }, h("table", {},
      h("caption", { class: "visually-hidden", text: "Redial rule per outcome class" }),
      h("thead", {}, h("tr", {}, ["Outcome", "Redial", "Schedule", "Max", "Counted"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rules.map((r) => r.row)))));
  const read = () => {
    const out = Object.fromEntries(Object.entries(fields)
      .map(([k, el]) => [k, typed(el, { text: k === "min_gap" })]).filter(([, v]) => v !== undefined));
    out.outcomes = Object.fromEntries(Object.keys(OUTCOMES).map((name, i) => [name, rules[i].read()]));
    return out;
  };
  return { view, read, sync: () => rules.forEach((r) => r.sync()) };
}

export function settingsTab(root, id, ctx) {
  const problems = h("ul", { class: "problems" });
  const result = h("p", { role: "status" });
  let stored = null;

  const render = (campaign) => {
    stored = campaign.spec;
    const pacing = pacingForm(stored.pacing || {});
    const retry = retryForm(stored.retry || {});
    const form = h("form", { class: "stack", "aria-labelledby": "settings-title", novalidate: true },
      h("h2", { id: "settings-title", text: "Pacing and retry policy" }),
      h("p", { class: "muted", text: "Changes apply to the engine's next decision; calls already out are not affected. Durations take a unit: 500ms, 2s, 10m, 4h, 1d." }),
      pacing.view, retry.view,
      h("div", { role: "alert" }, problems), result,
      session.operator ? h("div", { class: "buttons" },
        h("button", { type: "button", class: "secondary", text: "Check", onclick: () => send(false) }),
        h("button", { type: "submit", text: "Save" })) : h("p", { class: "muted", text: "A read-only key shows these values; an operator key can change them." }));
    retry.sync();
    if (!session.operator) for (const el of form.querySelectorAll("input, select")) { el.disabled = true; el.dataset.locked = "1"; }
    const send = async (save) => {
      const blocks = { pacing: pacing.read(), retry: retry.read() };
      result.textContent = "";
      result.className = "";
      try {
        if (save) {
          const saved = await api(`/campaigns/${id}`, { method: "PATCH", json: blocks });
          render(saved);
          ctx.toast("Saved: the engine uses the new pacing and retry policy from its next decision.");
        } else {
          await api("/policy/check", { method: "POST", json: { ...stored, ...blocks } });
          showProblems(form, [], problems);
          result.className = "ok";
          result.textContent = "Valid: these blocks can be saved.";
        }
      } catch (error) {
        const found = error.errors && error.errors.length ? error.errors : [error.message];
        const placed = showProblems(form, found, problems);
        result.textContent = `${found.length} problem${found.length === 1 ? "" : "s"}${placed ? ", shown next to the fields" : ""}; nothing was saved.`;
        const first = form.querySelector('[aria-invalid="true"]');
        if (first) first.focus();
      }
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); send(true); });
    replace(root, form);
  };

  api(`/campaigns/${id}`).then(render).catch((error) => ctx.fail(error));
  return null;
}
