// One campaign: the header (state, why, actions) over four tabs; the header follows the status.
import { api, offers, session } from "./api.js";
import { h, replace, download } from "./dom.js";
import { count } from "./format.js";
import { Poller } from "./poll.js";
import { whyText } from "./list.js";
import { overviewTab } from "./overview.js";
import { attemptsTab } from "./attempts.js";
import { contactsTab } from "./contacts.js";
import { settingsTab } from "./settings.js";

const TABS = [
  ["overview", "Overview"],
  ["attempts", "Attempts"],
  ["contacts", "Contacts"],
  ["settings", "Pacing & retry"],
];

const VERBS = {
  start: { label: "Start", when: ["draft", "scheduled", "completed"] },
  pause: { label: "Pause", when: ["running"] },
  resume: { label: "Resume", when: ["paused"] },
  cancel: { label: "Cancel…", when: ["draft", "scheduled", "running", "paused"], danger: true },
  rerun: { label: "Rerun…", when: ["completed", "cancelled"], optional: true },
};

export function campaignView(root, id, tab, ctx) {
  const title = h("h1", { text: `Campaign #${id}` });
  const state = h("span", { class: "badge" });
  const why = h("div", { class: "why" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
  const body = h("div", {});
  replace(root,
    h("p", {}, h("a", { href: "#/", text: "← All campaigns" })),
    h("div", { class: "head" }, title, state, actions, why),
    h("nav", { class: "tabs", "aria-label": "Campaign sections" }, TABS.map(([name, label]) =>
      h("a", { href: `#/campaigns/${id}/${name}`, "aria-current": name === tab ? "page" : null, text: label }))),
    body);

  let shownState = null;
  let rerunOffered = false;
  let lastStatus = null;
  offers("rerun", `/campaigns/${id}/rerun`).then((yes) => {
    rerunOffered = yes;
    shownState = null;
    if (lastStatus) header(lastStatus);
  });

  const act = async (verb) => {
    if (verb === "cancel" && !(await ctx.confirm({
      title: `Cancel campaign #${id}?`,
      text: "Cancelling is for good: contacts not called yet are closed and no call is made again. Calls already out finish.",
      ok: "Cancel campaign",
    }))) return;
    if (verb === "rerun" && !(await ctx.confirm({
      title: `Rerun campaign #${id}?`,
      text: "A new run calls again every contact that is not done or suppressed.",
      ok: "Rerun",
    }))) return;
    try {
      const result = await api(`/campaigns/${id}/${verb}`, { method: "POST", json: verb === "rerun" ? {} : undefined });
      ctx.toast(verb === "rerun"
        ? `Run ${result.run} opened: ${count(result.reopened)} contacts to call.`
        : `Campaign #${id} is now ${result.state}.`);
      poller.now();
    } catch (error) {
      ctx.toast(`Could not ${verb}: ${error.message}`);
    }
  };

  const exportButton = h("button", { type: "button", class: "secondary", text: "Download attempts (CSV)", onclick: async () => {
    try {
      const response = await api(`/campaigns/${id}/export`, { raw: true, headers: { Accept: "text/csv" } });
      download(`campaign-${id}-attempts.csv`, await response.blob());
    } catch (error) { ctx.toast(`Export failed: ${error.message}`); }
  } });

  const header = (status) => {
    lastStatus = status;
    title.textContent = status.name;
    document.title = `${status.name} · Campaign console`;
    state.className = `badge state-${status.state}`;
    state.textContent = status.state;
    why.textContent = [`#${status.id}`, whyText({ ...status, next_run_at: status.next_run_at }), `${count(status.attempts)} attempts`].filter(Boolean).join(" · ");
    if (shownState === status.state) return;
    shownState = status.state;
    const buttons = session.operator ? Object.entries(VERBS)
      .filter(([verb, spec]) => spec.when.includes(status.state) && (!spec.optional || (verb === "rerun" && rerunOffered)))
      .map(([verb, spec]) => h("button", { type: "button", class: spec.danger ? "danger" : "", "data-verb": verb, text: spec.label, onclick: () => act(verb) }))
      : [];
    replace(actions, ...buttons, exportButton);
  };

  const listeners = [];
  const poller = new Poller(async () => {
    const status = await api(`/campaigns/${id}/status`);
    ctx.clearFail();
    header(status);
    for (const listener of listeners) listener(status);
  }, 2000, (error) => {
    if (error.status === 404) replace(body, h("div", { class: "panel empty" }, h("strong", { text: `Campaign #${id} does not exist.` }), h("a", { href: "#/", text: "Back to all campaigns" })));
    else ctx.fail(error);
  });

  const ownTab = TABS.some(([name]) => name === tab) ? tab : "overview";
  const view = { overview: overviewTab, attempts: attemptsTab, contacts: contactsTab, settings: settingsTab }[ownTab];
  const stopTab = view(body, id, ctx, { onStatus: (fn) => listeners.push(fn), refresh: () => poller.now() });
  poller.start();
  return () => { poller.stop(); if (stopTab) stopTab(); };
}
