// The do-not-call list: add numbers (with an optional expiry and note), remove them, page.
import { api, session } from "./api.js";
import { h, replace, field, problemItem } from "./dom.js";
import { count, when } from "./format.js";

const PAGE = 50;

export function dncView(root, ctx) {
  let offset = 0;
  const list = h("div", {});
  const pager = h("div", { class: "pager" });
  const numbers = h("textarea", { rows: 4, spellcheck: "false", placeholder: "+12015550123\n+442071838750" });
  const expires = h("input", { type: "text", placeholder: "90d, 2027-01-31 or empty" });
  const note = h("input", { type: "text", maxlength: 1000 });
  const region = h("input", { type: "text", maxlength: 3, size: 4, placeholder: "US" });
  const problems = h("ul", { class: "problems", role: "alert" });

  const load = async () => {
    const page = await api(`/dnc?limit=${PAGE}&offset=${offset}`);
    if (!page.items.length) {
      replace(list, h("div", { class: "empty" }, h("strong", { text: "The do-not-call list is empty." }),
        session.operator ? "Add numbers above, or import a file with `campaign dnc import FILE.csv`." : "An operator adds numbers with `campaign dnc add`."));
    } else {
      replace(list, h("div", { class: "scroll" }, h("table", { class: "cards-narrow" },
        h("thead", {}, h("tr", {}, ["Number", "Added", "Expires", "Note", ""].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, page.items.map((e) => h("tr", {},
          h("td", { "data-label": "Number", text: e.phone }), h("td", { "data-label": "Added", text: when(e.added_at) }),
          h("td", { "data-label": "Expires", text: e.expires_at ? when(e.expires_at) : "never" }), h("td", { "data-label": "Note", text: e.note || "" }),
          h("td", {}, session.operator ? h("button", { type: "button", class: "secondary", "aria-label": `Remove ${e.phone}`, text: "Remove", onclick: () => remove(e.phone) }) : null)))))));
    }
    replace(pager,
      h("span", { class: "muted", text: page.total ? `${count(page.offset + 1)}–${count(page.offset + page.items.length)} of ${count(page.total)}` : "" }),
      offset > 0 ? h("button", { type: "button", class: "secondary", text: "Previous", onclick: () => { offset = Math.max(0, offset - PAGE); refresh(); } }) : null,
      page.next_offset !== null ? h("button", { type: "button", class: "secondary", text: "Next", onclick: () => { offset = page.next_offset; refresh(); } }) : null);
  };
  const refresh = () => load().catch((error) => ctx.fail(error));

  const remove = async (phone) => {
    if (!(await ctx.confirm({ title: `Remove ${phone}?`, text: "Campaigns may call this number again once it is off the list.", ok: "Remove" }))) return;
    try {
      const result = await api(`/dnc/${encodeURIComponent(phone)}`, { method: "DELETE" });
      ctx.toast(result.removed ? `${phone} removed from the do-not-call list.` : `${phone} was not on the list.`);
      refresh();
    } catch (error) { ctx.toast(error.message); }
  };

  const form = h("form", { class: "panel stack", "aria-labelledby": "dnc-add-title" },
    h("h2", { id: "dnc-add-title", text: "Add numbers" }),
    field("Numbers (one per line or comma-separated)", numbers),
    h("div", { class: "form-grid" }, field("Expires", expires, "a duration, a date, or empty for never"), field("Note", note), field("Region for numbers without +", region)),
    problems, h("div", {}, h("button", { type: "submit", text: "Add to the list" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { numbers: numbers.value.split(/[\s,;]+/).filter(Boolean) };
    if (!body.numbers.length) { replace(problems, problemItem("numbers: type at least one number")); return; }
    for (const [key, input] of [["expires", expires], ["note", note], ["region", region]]) if (input.value.trim()) body[key] = input.value.trim();
    try {
      const result = await api("/dnc", { method: "POST", json: body });
      replace(problems);
      numbers.value = "";
      ctx.toast(`${count(result.added.length)} number${result.added.length === 1 ? "" : "s"} on the do-not-call list.`);
      refresh();
    } catch (error) {
      replace(problems, ...(error.errors && error.errors.length ? error.errors : [error.message]).map(problemItem));
    }
  });
  replace(root, h("div", { class: "head" }, h("h1", { text: "Do-not-call list" })),
    h("div", { class: "stack" }, session.operator ? form : null,
      h("section", { class: "panel", "aria-label": "Numbers on the list" }, list, pager)));
  refresh();
  return null;
}
