// The campaigns list: state and why, progress, pace against limits, next run; live.
import { api, session } from "./api.js";
import { h, replace } from "./dom.js";
import { progress } from "./charts.js";
import { ago, count, percent, rate, when, waitingLabel } from "./format.js";
import { Poller } from "./poll.js";

const PAGE = 50;

/** Why a campaign is where it is, in a few words ("" when its state says it all). */
export function whyText(item) {
  const breaker = item.gateway && item.gateway.state;
  if (breaker && breaker !== "closed") {
    const probe = item.gateway.next_probe_at ? `; next probe ${ago(item.gateway.next_probe_at)}` : "";
    return `Gateway breaker ${breaker.replace("_", "-")} since ${when(item.gateway.since)}${probe}`;
  }
  if (item.state === "paused") {
    const reason = item.paused_reason || "paused by an operator";
    return /^paused\b/i.test(reason) ? reason.charAt(0).toUpperCase() + reason.slice(1) : `Paused: ${reason}`;
  }
  const waiting = Object.entries(item.waiting || {}).filter(([reason]) => reason !== "due");
  if (item.state === "running" && waiting.length) {
    const [reason, n] = waiting.sort((a, b) => b[1] - a[1])[0];
    return `${count(n)} waiting: ${waitingLabel(reason).toLowerCase()}`;
  }
  if (item.state === "scheduled" && item.next_run_at) return `Next run ${when(item.next_run_at)}`;
  return "";
}

function row(item) {
  const why = whyText(item);
  const label = (name, ...content) => h("td", { "data-label": name }, ...content);
  return h("tr", {},
    label("Campaign", h("a", { href: `#/campaigns/${item.id}`, text: item.name }), h("div", { class: "muted", text: `#${item.id}` })),
    label("State", h("span", { class: `badge state-${item.state}`, text: item.state }), why ? h("div", { class: "muted", text: why }) : null),
    label("Progress", progress(item.finished_contacts, item.total_contacts,
      `${count(item.finished_contacts)} of ${count(item.total_contacts)} (${percent(item.finished_contacts, item.total_contacts)})`)),
    label("Calls/s", h("span", { class: "num", text: `${rate(item.calls_per_second)} / ${rate(item.cps_limit)}` })),
    label("Live calls", h("span", { class: "num", text: `${count(item.live_calls)} / ${count(item.max_live_calls)}` })),
    label("Next run", item.next_run_at ? h("span", { title: when(item.next_run_at), text: `${when(item.next_run_at)} (${ago(item.next_run_at)})` }) : h("span", { class: "muted", text: "–" })));
}

export function listView(root, ctx) {
  let offset = 0;
  const body = h("div", {}, h("p", { class: "muted", text: "Loading campaigns…" }));
  const pager = h("div", { class: "pager" });
  replace(root, h("div", { class: "head" },
    h("h1", { text: "Campaigns" }),
    h("div", { class: "actions" }, session.operator ? h("a", { class: "button", href: "#/new", text: "New campaign" }) : null)),
    h("section", { class: "panel", "aria-labelledby": "list-title" },
      h("h2", { id: "list-title", class: "visually-hidden", text: "All campaigns" }), body, pager));

  const load = async () => {
    const page = await api(`/overview?limit=${PAGE}&offset=${offset}`);
    ctx.clearFail();
    if (!page.items.length) {
      replace(body, h("div", { class: "empty" },
        h("strong", { text: "No campaigns yet." }),
        session.operator
          ? h("span", {}, "Create one from a spec with ", h("a", { href: "#/new", text: "New campaign" }), ", or run ", h("code", { text: "campaign create -f spec.yaml" }), ".")
          : h("span", {}, "An operator creates them (", h("code", { text: "campaign create -f spec.yaml" }), "); they show here as soon as they exist.")));
      replace(pager);
      return;
    }
    replace(body, h("div", { class: "scroll" }, h("table", { class: "cards-narrow" },
      h("thead", {}, h("tr", {}, ["Campaign", "State", "Progress", "Calls/s (now / limit)", "Live calls (now / cap)", "Next run"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, page.items.map(row)))));
    replace(pager,
      h("span", { class: "muted", text: `${count(page.offset + 1)}–${count(page.offset + page.items.length)} of ${count(page.total)}` }),
      offset > 0 ? h("button", { class: "secondary", type: "button", text: "Newer", onclick: () => { offset = Math.max(0, offset - PAGE); poller.now(); } }) : null,
      page.next_offset !== null ? h("button", { class: "secondary", type: "button", text: "Older", onclick: () => { offset = page.next_offset; poller.now(); } }) : null);
  };
  const poller = new Poller(load, 3000, (error) => ctx.fail(error)).start();
  return () => poller.stop();
}
