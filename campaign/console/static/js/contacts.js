// The contacts tab: the upload form (operator keys) over the campaign's contacts, paged in upload
// order and filtered by state, last outcome and disposition; each contact opens its detail.
import { api, session } from "./api.js";
import { h, replace } from "./dom.js";
import { count, dispositionLabel, outcomeLabel, stateLabel, when, CONTACT_STATES, DISPOSITIONS, OUTCOMES } from "./format.js";
import { Poller } from "./poll.js";
import { uploadPanel } from "./upload.js";
import { showContact } from "./contact.js";

const PAGE = 25;
const FILTERS = [
  ["state", "State", "All states", CONTACT_STATES],
  ["outcome", "Last outcome", "All outcomes", OUTCOMES],
  ["disposition", "Disposition", "All dispositions", DISPOSITIONS],
];

export function contactsTab(root, id, ctx, { refresh }) {
  let offset = 0;
  const chosen = {};
  const selects = FILTERS.map(([name, label, all, values]) => {
    const select = h("select", { id: `contact-${name}-filter` },
      h("option", { value: "", text: all }), Object.entries(values).map(([k, text]) => h("option", { value: k, text })));
    select.addEventListener("change", () => { chosen[name] = select.value; offset = 0; poller.now(); });
    return h("span", { class: "filter" }, h("label", { for: select.id, text: label }), select);
  });
  const table = h("div", { class: "scroll" });
  const pager = h("div", { class: "pager" });
  const list = h("section", { class: "panel", "aria-labelledby": "contacts-title" },
    h("div", { class: "head" }, h("h2", { id: "contacts-title", text: "Contacts" }),
      h("div", { class: "actions filters", role: "group", "aria-label": "Filters" }, selects)),
    table, pager,
    h("p", { class: "muted", text: session.operator
      ? "Choose a contact to see its attempts, change its priority or set a disposition. The first page refreshes by itself."
      : "Choose a contact to see its attempts. The first page refreshes by itself; an operator key can change a priority or set a disposition." }));
  const changed = () => { turn(offset); refresh(); };
  replace(root, h("div", { class: "stack" },
    session.operator ? uploadPanel(id, ctx, changed) : h("p", { class: "muted", text: "Uploading contacts needs an operator key." }),
    list));

  const load = async () => {
    const query = new URLSearchParams({ limit: PAGE, offset });
    for (const [name, value] of Object.entries(chosen)) if (value) query.set(name, value);
    const page = await api(`/campaigns/${id}/contacts?${query}`);
    const filtered = Object.values(chosen).some(Boolean);
    if (!page.items.length) {
      replace(table, h("div", { class: "empty" }, h("strong", { text: filtered ? "No contact matches these filters." : "No contacts yet." }),
        filtered ? "Choose other filters, or the All entries." : session.operator ? "Upload a CSV above." : "An operator uploads them with `campaign upload`."));
    } else {
      replace(table, h("table", { class: "cards-narrow" },
        h("thead", {}, h("tr", {}, ["Phone", "External id", "State", "Priority", "Last outcome", "Disposition", "Attempts", "Next due", ""]
          .map((t) => h("th", { scope: "col", class: ["Priority", "Attempts"].includes(t) ? "n" : null, text: t })))),
        h("tbody", {}, page.items.map((c) => h("tr", {},
          h("td", { "data-label": "Phone", text: c.phone }),
          h("td", { "data-label": "External id", text: c.external_id || "–" }),
          h("td", { "data-label": "State", text: stateLabel(c.state) }),
          h("td", { "data-label": "Priority", class: "n", text: c.priority }),
          h("td", { "data-label": "Last outcome", text: c.last_outcome ? outcomeLabel(c.last_outcome) : "–" }),
          h("td", { "data-label": "Disposition", text: dispositionLabel(c.disposition) }),
          h("td", { "data-label": "Attempts", class: "n", text: count(c.attempts) }),
          h("td", { "data-label": "Next due", class: "num", text: c.state === "pending" ? when(c.next_due_at) : "–" }),
          h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Details of ${c.external_id || c.phone}`, text: "Details",
            onclick: () => showContact(id, c, ctx, changed) })))))));
    }
    replace(pager,
      h("span", { class: "muted", text: page.total ? `${count(page.offset + 1)}–${count(page.offset + page.items.length)} of ${count(page.total)}` : "" }),
      offset > 0 ? h("button", { type: "button", class: "secondary", text: "Previous", onclick: () => turn(Math.max(0, offset - PAGE)) }) : null,
      page.next_offset !== null ? h("button", { type: "button", class: "secondary", text: "Next", onclick: () => turn(page.next_offset) }) : null);
  };
  // As for attempts, only the first page keeps refreshing; a change made here reloads any page.
  const poller = new Poller(async () => { if (offset === 0) await load(); }, 5000, (error) => ctx.fail(error));
  const turn = (to) => { offset = to; load().catch((error) => ctx.fail(error)); };
  poller.start();
  return () => poller.stop();
}
