// The events outbox panel: what the engine owes the CRM (pending, failing since, dead).
import { h } from "./dom.js";
import { count, when } from "./format.js";

/** A panel for `status.events`, or null when the campaign has sent no event at all. */
export function outboxPanel(events) {
  if (!events || !Object.values(events).some(Boolean)) return null;
  const failing = events.failing ? `${count(events.failing)} failing since ${when(events.failing_since)}` : "none failing";
  const figures = [
    ["Pending", count(events.pending), failing],
    ["Dead", count(events.dead), events.dead ? "gave up after 24 h; resend with campaign events replay" : "none"],
    ["Delivered", count(events.delivered), ""],
  ];
  return h("section", { class: "panel", "aria-labelledby": "outbox-title", "data-outbox": "" },
    h("h2", { id: "outbox-title", text: "Events to the CRM" }),
    h("table", {}, h("tbody", {}, figures.map(([label, value, note]) => h("tr", { "data-figure": label.toLowerCase() },
      h("th", { scope: "row", text: label }), h("td", { class: "n", text: value }), h("td", { class: "muted", text: note }))))));
}
