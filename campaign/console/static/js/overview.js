// The overview tab: progress, pace against limits, outcomes, why contacts wait, finish estimate.
import { api, offers } from "./api.js";
import { h, replace } from "./dom.js";
import { barList, lineChart, progress, stackedBar } from "./charts.js";
import { ago, count, duration, percent, rate, stateLabel, time, when, outcomeLabel, waitingLabel, OUTCOMES, CONTACT_STATES } from "./format.js";
import { Poller } from "./poll.js";
import { outboxPanel } from "./events.js";

const WINDOWS = [[120, "2 minutes"], [600, "10 minutes"], [1800, "30 minutes"], [3600, "hour"]];

function card(label, value, sub) {
  return h("div", { class: "panel card" }, h("div", { class: "label", text: label }), value, sub ? h("div", { class: "sub", text: sub }) : null);
}

const big = (text) => h("div", { class: "value", text });

function finishText(status, forecast) {
  if (forecast && forecast.finish && forecast.finish.p50) {
    return [`${when(forecast.finish.p50)}`, `likely; by ${when(forecast.finish.p90)} at the latest (p90)${forecast.limited_by ? `, limited by ${forecast.limited_by}` : ""}`];
  }
  if (status.state === "completed") return ["Finished", ""];
  if (status.state === "cancelled") return ["Cancelled", ""];
  if (status.eta_seconds) {
    const at = new Date(Date.now() + status.eta_seconds * 1000).toISOString();
    return [`in ${duration(status.eta_seconds)}`, `around ${time(at)} at the recent rate, retries not counted`];
  }
  if (status.state === "running") return ["Not yet known", "no dial-outs in the last 10 s to measure a rate from"];
  return ["–", status.state === "paused" ? "resume the campaign to estimate" : "start the campaign to estimate"];
}

export function overviewTab(root, id, ctx, { onStatus }) {
  const cards = h("div", { class: "grid cards" });
  const states = h("div", {}, h("p", { class: "muted", text: "Loading…" }));
  const outcomes = h("div", {});
  const pace = h("div", { class: "grid two" });
  const waiting = h("div", {});
  const runs = h("div", {});
  const outbox = h("div", {});
  const windowSelect = h("select", { id: "pace-window" }, WINDOWS.map(([seconds, label]) => h("option", { value: seconds, text: label })));
  windowSelect.value = "600";
  replace(root, h("div", { class: "stack" },
    h("section", { "aria-label": "Key figures" }, cards),
    h("div", { class: "grid two" },
      h("section", { class: "panel", "aria-labelledby": "states-title" }, h("h2", { id: "states-title", text: "Contacts by state" }), states),
      h("section", { class: "panel", "aria-labelledby": "outcomes-title" }, h("h2", { id: "outcomes-title", text: "Outcomes by class" }), outcomes)),
    h("section", { class: "panel", "aria-labelledby": "pace-title" },
      h("div", { class: "head" }, h("h2", { id: "pace-title", text: "Pace" }),
        h("div", { class: "actions" }, h("label", { for: "pace-window", text: "Over the last" }), windowSelect)),
      pace),
    h("section", { class: "panel", "aria-labelledby": "waiting-title" }, h("h2", { id: "waiting-title", text: "Why contacts wait" }), waiting),
    outbox,
    runs));

  let forecast = null;
  let until = {};
  let lastStatus = null;

  const draw = (status) => {
    lastStatus = status;
    const total = status.total_contacts;
    const done = total - (status.contacts.pending || 0) - (status.contacts.in_flight || 0);
    const [finish, finishSub] = finishText(status, forecast);
    replace(cards,
      card("Progress", progress(done, total, `${count(done)} of ${count(total)} contacts (${percent(done, total)})`)),
      card("Calls per second", big(`${rate(status.calls_per_second)} / ${rate(pace.limit ?? 0)}`), "now (last 10 s) / configured"),
      card("Live calls", big(`${count(status.live_calls)} / ${count(pace.cap ?? 0)}`), "now / cap"),
      card("Attempts", big(count(status.attempts)), `${count(status.contacts.in_flight || 0)} contacts in flight`),
      card("Finish estimate", big(finish), finishSub),
      status.next_run_at ? card("Next run", big(ago(status.next_run_at)), when(status.next_run_at)) : null);
    if (!total) {
      replace(states, h("div", { class: "empty" }, h("strong", { text: "No contacts yet." }), "Upload a CSV on the ", h("a", { href: `#/campaigns/${id}/contacts`, text: "Upload contacts" }), " tab, or run ", h("code", { text: `campaign upload ${id} contacts.csv` }), "."));
    } else {
      const names = [...Object.keys(CONTACT_STATES), ...Object.keys(status.contacts).filter((k) => !(k in CONTACT_STATES))];
      replace(states, stackedBar(names.filter((k) => status.contacts[k]).map((k) => ({ key: k, label: stateLabel(k), value: status.contacts[k], text: count(status.contacts[k]) })), { label: "Contacts by state" }));
    }
    const ended = Object.values(status.outcomes).reduce((a, b) => a + b, 0);
    if (!ended) replace(outcomes, h("p", { class: "empty", text: "No call has ended yet; outcomes show here as calls end." }));
    else {
      const names = [...Object.keys(OUTCOMES), ...Object.keys(status.outcomes).filter((k) => !(k in OUTCOMES))];
      replace(outcomes, barList(names.filter((k) => status.outcomes[k]).map((k) => ({ key: k, label: outcomeLabel(k), value: status.outcomes[k], text: count(status.outcomes[k]) }))),
        h("p", { class: "muted", text: `${count(ended)} ended attempts` }));
    }
    const reasons = Object.entries(status.waiting).sort((a, b) => b[1] - a[1]);
    replace(waiting, reasons.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Reason" }), h("th", { scope: "col", class: "n", text: "Contacts" }), h("th", { scope: "col", text: "Next due" }))),
        h("tbody", {}, reasons.map(([reason, n]) => h("tr", {},
          h("td", { text: waitingLabel(reason) }), h("td", { class: "n", text: count(n) }),
          h("td", { text: until[reason] ? `${when(until[reason])} (${ago(until[reason])})` : "–" })))))
      : h("p", { class: "muted", text: status.state === "running" ? "No contact is waiting: every pending contact is due." : "No pending contacts." }));
    replace(outbox, outboxPanel(status.events));
    replace(runs, status.runs.length > 1 || status.next_run_at ? h("section", { class: "panel", "aria-labelledby": "runs-title" },
      h("h2", { id: "runs-title", text: "Runs" }),
      h("table", {}, h("thead", {}, h("tr", {}, ["Run", "State", "Started", "Finished", "Attempts"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, status.runs.slice().reverse().map((run) => h("tr", {}, h("td", { text: run.number }), h("td", { text: run.state }), h("td", { text: when(run.started_at || run.scheduled_for) }), h("td", { text: when(run.finished_at) }), h("td", { class: "n", text: count(run.attempts) })))))) : null);
  };
  onStatus(draw);

  const pacePoller = new Poller(async () => {
    const span = Number(windowSelect.value);
    const series = await api(`/campaigns/${id}/pace?window=${span}&step=${Math.max(1, span / 120)}`);
    pace.limit = series.cps_limit;
    pace.cap = series.max_live_calls;
    const points = series.points.map((p) => ({ at: new Date(p.at), cps: p.calls_per_second, live: p.live_calls }));
    replace(pace,
      lineChart({ title: "Calls per second", seriesLabel: "achieved", limit: series.cps_limit, limitLabel: "configured", format: rate, timeFormat: (d) => time(d.toISOString()), points: points.map((p) => ({ at: p.at, value: p.cps })) }),
      lineChart({ title: "Live calls", seriesLabel: "peak live calls", limit: series.max_live_calls, limitLabel: "cap", format: count, tickFormat: rate, timeFormat: (d) => time(d.toISOString()), points: points.map((p) => ({ at: p.at, value: p.live })) }));
    pace.dataset.points = String(points.length);
    pace.dataset.sent = String(points.reduce((a, p) => a + p.cps, 0));
  }, 5000, (error) => ctx.fail(error));

  const waitPoller = new Poller(async () => {
    const found = await api(`/campaigns/${id}/waiting`);
    until = Object.fromEntries(found.items.filter((i) => i.next_due_at).map((i) => [i.reason, i.next_due_at]));
    if (lastStatus) draw(lastStatus);
  }, 5000);

  let forecastPoller = null;
  offers("forecast", `/campaigns/${id}/forecast`).then((yes) => {
    if (!yes) return;
    forecastPoller = new Poller(async () => {
      try { forecast = await api(`/campaigns/${id}/forecast`); } catch { forecast = null; }
      if (lastStatus) draw(lastStatus);
    }, 30000).start();
  });

  windowSelect.addEventListener("change", () => pacePoller.now());
  pacePoller.start();
  waitPoller.start();
  return () => { pacePoller.stop(); waitPoller.stop(); if (forecastPoller) forecastPoller.stop(); };
}
