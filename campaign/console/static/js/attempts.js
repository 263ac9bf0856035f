// The attempts tab: newest first, paged, filtered by outcome; each row opens its timeline.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { count, dispositionLabel, duration, outcomeLabel, rate, time, when, OUTCOMES } from "./format.js";
import { Poller } from "./poll.js";

const PAGE = 25;
const STEPS = { queued: "Queued", claimed: "Claimed by a worker", sent: "Sent to the gateway", accepted: "Accepted by the gateway", answered: "Answered", ended: "Ended" };

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]));
}

export async function showAttempt(id, attemptId, ctx) {
  let detail;
  try { detail = await api(`/campaigns/${id}/attempts/${attemptId}`); } catch (error) { ctx.toast(error.message); return; }
  const start = new Date(detail.timeline.length ? detail.timeline[0].at : detail.queued_at);
  const dialog = h("dialog", { "aria-labelledby": "attempt-title" },
    h("h2", { id: "attempt-title", text: `Attempt ${detail.number} to ${detail.phone}` }),
    h("div", { class: "grid two" },
      h("section", { "aria-label": "Timeline" }, h("h3", { text: "Timeline" }),
        h("ol", { class: "timeline" }, detail.timeline.map((step) => h("li", {}, h("strong", { text: STEPS[step.step] || step.step }), " ",
          h("span", { class: "muted num", text: `${time(step.at)} (+${rate((new Date(step.at) - start) / 1000)} s)` }))))),
      h("section", { "aria-label": "Result" }, h("h3", { text: "Result" }), facts([
        ["State", detail.state], ["Outcome", detail.outcome ? outcomeLabel(detail.outcome) : "not ended yet"],
        ["Disposition", detail.disposition ? dispositionLabel(detail.disposition, detail.disposition_label) : null],
        ["Disposed at", detail.disposed_at ? when(detail.disposed_at) : null],
        ["Callback", detail.disposition_detail?.answer?.callback?.local_due_at],
        ["SIP code", detail.sip_code], ["AMD", detail.amd], ["Reason", detail.reason], ["Reason code", detail.reason_code],
        ["Talk time", detail.duration_s !== null ? duration(detail.duration_s) : null], ["Decision", detail.decision], ["Error", detail.error],
        ["Contact", detail.external_id ? `${detail.external_id} (#${detail.contact_id})` : `#${detail.contact_id}`], ["Run", detail.run],
        ["Dial tries", detail.dial_tries], ["Caller ID", detail.caller], ["sid", detail.sid], ["callId", detail.call_id], ["Deadline", detail.deadline_at ? when(detail.deadline_at) : null]]))),
    h("h3", { text: "Notifications from the gateway" }),
    detail.notifications.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Received", "Status", "What the engine did"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, detail.notifications.map((n) => h("tr", {}, h("td", { text: time(n.received_at) }), h("td", { text: n.status || "–" }), h("td", { text: n.result || "waiting to be applied" })))))
      : h("p", { class: "muted", text: "None received yet." }),
    h("form", { method: "dialog", class: "buttons" }, h("button", { type: "submit", text: "Close" })));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

export function attemptsTab(root, id, ctx) {
  let offset = 0;
  let outcome = "";
  const filter = h("select", { id: "outcome-filter" },
    h("option", { value: "", text: "All outcomes" }),
    h("option", { value: "in_progress", text: "Not ended yet" }),
    Object.entries(OUTCOMES).map(([k, label]) => h("option", { value: k, text: label })));
  filter.addEventListener("change", () => { outcome = filter.value; offset = 0; poller.now(); });
  const table = h("div", { class: "scroll" });
  const pager = h("div", { class: "pager" });
  replace(root, h("section", { class: "panel", "aria-labelledby": "attempts-title" },
    h("div", { class: "head" }, h("h2", { id: "attempts-title", text: "Attempts, latest first" }),
      h("div", { class: "actions" }, h("label", { for: "outcome-filter", text: "Outcome" }), filter)),
    table, pager,
    h("p", { class: "muted", text: "Choose an attempt to see its timeline: queued → sent → answered → ended, with SIP code, AMD result, the bot's disposition and the retry decision. The first page refreshes by itself." })));

  const load = async () => {
    const query = new URLSearchParams({ limit: PAGE, offset });
    if (outcome) query.set("outcome", outcome);
    const page = await api(`/campaigns/${id}/attempts?${query}`);
    if (!page.items.length) {
      replace(table, h("div", { class: "empty" }, h("strong", { text: outcome ? "No attempt with this outcome." : "No attempts yet." }),
        outcome ? "Choose another outcome, or All outcomes." : "Attempts appear as soon as the campaign runs and contacts are due."));
    } else {
      replace(table, h("table", { class: "cards-narrow" },
        h("thead", {}, h("tr", {}, ["Sent", "Number", "Try", "Outcome", "Disposition", "SIP", "AMD", "Talk", "Decision", ""].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, page.items.map((a) => h("tr", {},
          h("td", { "data-label": "Sent", class: "num", text: time(a.sending_at || a.queued_at) }),
          h("td", { "data-label": "Number", text: a.phone }),
          h("td", { "data-label": "Try", class: "n", text: a.number }),
          h("td", { "data-label": "Outcome", text: a.outcome ? outcomeLabel(a.outcome) : a.state }),
          h("td", { "data-label": "Disposition", text: dispositionLabel(a.disposition, a.disposition_label) }),
          h("td", { "data-label": "SIP", class: "n", text: a.sip_code ?? "–" }),
          h("td", { "data-label": "AMD", text: a.amd || "–" }),
          h("td", { "data-label": "Talk", class: "n", text: a.duration_s !== null ? duration(a.duration_s) : "–" }),
          h("td", { "data-label": "Decision", text: a.decision || "–" }),
          h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Timeline of attempt ${a.number} to ${a.phone}`, text: "Timeline", onclick: () => showAttempt(id, a.id, ctx) })))))));
    }
    replace(pager,
      h("span", { class: "muted", text: page.total ? `${count(page.offset + 1)}–${count(page.offset + page.items.length)} of ${count(page.total)}` : "" }),
      offset > 0 ? h("button", { type: "button", class: "secondary", text: "Newer", onclick: () => turn(Math.max(0, offset - PAGE)) }) : null,
      page.next_offset !== null ? h("button", { type: "button", class: "secondary", text: "Older", onclick: () => turn(page.next_offset) }) : null);
  };
  // Only the first page keeps refreshing: later pages would shift under the reader's eyes.
  const poller = new Poller(async () => { if (offset === 0) await load(); }, 5000, (error) => ctx.fail(error));
  const turn = (to) => { offset = to; load().catch((error) => ctx.fail(error)); };
  poller.start();
  return () => poller.stop();
}
