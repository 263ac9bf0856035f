// One contact in a dialog: its facts and attempts; an operator changes its priority or sets a
// disposition (the same routes a CRM uses), and the answer's note says what the engine did.
import { api, session } from "./api.js";
import { h, replace, field, showProblems } from "./dom.js";
import { count, dispositionLabel, duration, outcomeLabel, stateLabel, waitingLabel, when, zone, DISPOSITIONS } from "./format.js";
import { facts, showAttempt } from "./attempts.js";

// A path segment for the contact: its external id, else (or when the id holds a "/") its number.
const refOf = (c) => encodeURIComponent(c.external_id && !c.external_id.includes("/") ? c.external_id : c.phone);

function contactFacts(c) {
  return facts([
    ["State", stateLabel(c.state)], ["Why closed", c.closed_reason], ["Priority", c.priority],
    ["Attempts", count(c.attempts)], ["Last outcome", c.last_outcome ? outcomeLabel(c.last_outcome) : null],
    ["Disposition", c.disposition ? dispositionLabel(c.disposition) : null],
    ["Next due", c.state === "pending" && c.next_due_at ? when(c.next_due_at) : null], ["Waiting for", c.state === "pending" && c.waiting_reason ? waitingLabel(c.waiting_reason) : null],
    ["Time zones", c.zones.join(", ")], ["CSV line", c.line_no],
    ...Object.entries(c.metadata || {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])]);
}

function attemptsTable(id, c, ctx) {
  if (!c.attempt_list.length) return h("p", { class: "muted", text: "Not called yet." });
  return h("div", { class: "scroll" }, h("table", { class: "cards-narrow" },
    h("thead", {}, h("tr", {}, ["Try", "Sent", "Outcome", "Disposition", "SIP", "Talk", "Decision", ""].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, c.attempt_list.map((a) => h("tr", {},
      h("td", { "data-label": "Try", class: "n", text: a.number }),
      h("td", { "data-label": "Sent", class: "num", text: when(a.sending_at || a.queued_at) }),
      h("td", { "data-label": "Outcome", text: a.outcome ? outcomeLabel(a.outcome) : a.state }),
      h("td", { "data-label": "Disposition", text: dispositionLabel(a.disposition, a.disposition_label) }),
      h("td", { "data-label": "SIP", class: "n", text: a.sip_code ?? "–" }),
      h("td", { "data-label": "Talk", class: "n", text: a.duration_s !== null ? duration(a.duration_s) : "–" }),
      h("td", { "data-label": "Decision", text: a.decision || "–" }),
      h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Timeline of attempt ${a.number}`, text: "Timeline", onclick: () => showAttempt(id, a.id, ctx) })))))));
}

/** A form whose `send` calls the API and says what it did; the API's problems ("path: message",
 *  listed or joined with "; ") show next to the field whose data-path they name, the rest below. */
function actionForm(title, fields, button, send) {
  const problems = h("ul", { class: "problems", role: "alert" });
  const result = h("p", { role: "status" });
  const form = h("form", { class: "stack", novalidate: true }, h("h3", { text: title }), h("div", { class: "form-grid" }, fields), problems, result, h("div", {}, h("button", { type: "submit", text: button })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showProblems(form, [], problems);
    result.textContent = "";
    try {
      result.textContent = await send();
    } catch (error) {
      showProblems(form, error.errors && error.errors.length ? error.errors : error.message.split("; "), problems);
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
    }
  });
  return form;
}

function operatorForms(id, c, reload) {
  const path = `/campaigns/${id}/contacts/${refOf(c)}`;
  const priority = h("input", { type: "number", min: -100, max: 100, step: 1, value: c.priority, inputmode: "numeric", "data-path": "body.priority" });
  const priorityForm = actionForm("Change the priority", [field("Priority", priority, "−100 to 100; higher is called first among contacts due at once")], "Change priority", async () => {
    const typed = priority.value.trim();
    const changed = await api(path, { method: "PATCH", json: { priority: /^[-+]?\d+$/.test(typed) ? Number(typed) : typed } });
    await reload();
    return `Priority is now ${changed.priority}.`;
  });

  const kind = h("select", { "data-path": "disposition" }, Object.entries(DISPOSITIONS).map(([k, text]) => h("option", { value: k, text })));
  const label = h("input", { type: "text", maxlength: 100, autocomplete: "off", placeholder: "paid", "data-path": "label" });
  const at = h("input", { type: "datetime-local", "data-path": "at" });
  const timezone = h("input", { type: "text", value: c.zones[0] || zone, autocomplete: "off", spellcheck: "false", "data-path": "timezone" });
  const labelField = field("Label (business outcome)", label, "optional, e.g. paid");
  const atField = field("Call back at (local time)", at);
  const zoneField = field("Time zone", timezone, "IANA name; the contact's by default");
  const sync = () => {
    labelField.hidden = kind.value !== "done";
    atField.hidden = zoneField.hidden = kind.value !== "callback";
  };
  kind.addEventListener("change", sync);
  sync();
  const dispositionForm = actionForm("Set a disposition", [field("Disposition", kind), labelField, atField, zoneField], "Set disposition", async () => {
    const body = { disposition: kind.value };
    if (kind.value === "done" && label.value.trim()) body.label = label.value.trim();
    if (kind.value === "callback") {
      if (at.value) body.at = at.value;
      if (timezone.value.trim()) body.timezone = timezone.value.trim();
    }
    const answer = await api(`${path}/disposition`, { method: "POST", json: body });
    await reload();
    const note = answer.note.charAt(0).toUpperCase() + answer.note.slice(1);
    return `${dispositionLabel(answer.disposition, answer.label)} set; the contact is now ${stateLabel(answer.contact_state).toLowerCase()}. ${note}.`;
  });
  return h("section", { class: "grid two", "aria-label": "Change the contact" }, priorityForm, dispositionForm);
}

/** Open the contact `c` (a row of the list); `changed` runs after each change it makes. */
export async function showContact(id, c, ctx, changed) {
  const path = `/campaigns/${id}/contacts/${refOf(c)}`;
  let detail;
  try { detail = await api(path); } catch (error) { ctx.toast(error.message); return; }
  const heading = h("h2", { id: "contact-title" });
  const body = h("div", { class: "stack" });
  const render = (d) => {
    heading.textContent = d.external_id ? `Contact ${d.external_id} (${d.phone})` : `Contact ${d.phone}`;
    replace(body, contactFacts(d), h("h3", { text: "Attempts, oldest first" }), attemptsTable(id, d, ctx));
  };
  const reload = async () => {
    render(await api(path));
    changed();
  };
  render(detail);
  const dialog = h("dialog", { "aria-labelledby": "contact-title", class: "wide" }, heading, body,
    session.operator ? operatorForms(id, detail, reload) : h("p", { class: "muted", text: "An operator key can change the priority or set a disposition." }),
    h("form", { method: "dialog", class: "buttons" }, h("button", { type: "submit", class: "secondary", text: "Close" })));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
