// Numbers and times for people: the browser's locale, the operator's own time zone (shown).
export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const locale = undefined; // the browser's

const whole = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const tenth = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
const clock = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayTime = new Intl.DateTimeFormat(locale, { timeZone: zone, dateStyle: "medium", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });

export function zoneLabel() {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" }).formatToParts(new Date());
  const offset = (parts.find((p) => p.type === "timeZoneName") || {}).value || "";
  return `${zone} (${offset.replace("GMT", "UTC")})`;
}

export const count = (n) => whole.format(n ?? 0);
export const rate = (n) => tenth.format(n ?? 0);
export const percent = (part, total) => (total ? `${tenth.format((100 * part) / total)} %` : "–");
export const time = (iso) => (iso ? clock.format(new Date(iso)) : "–");
export const when = (iso) => (iso ? dayTime.format(new Date(iso)) : "–");

export function ago(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - now) / 1000;
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") return relative.format(Math.round(seconds / size), unit);
  }
  return "";
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export const OUTCOMES = {
  human: "Answered: human", machine: "Answered: machine", no_speech: "Answered: no speech",
  undecided: "Answered: AMD undecided", busy: "Busy", no_answer: "No answer", rejected: "Rejected",
  unavailable: "Unavailable", failed_other: "Failed", gateway_error: "Gateway error", lost: "Lost",
};

export const CONTACT_STATES = {
  pending: "Pending", in_flight: "In flight", done: "Done", exhausted: "Exhausted",
  suppressed: "Suppressed (do-not-call)", cancelled: "Cancelled", invalid: "Invalid (wrong number)",
};

export const DISPOSITIONS = {
  done: "Done", callback: "Call back", do_not_call: "Do not call", wrong_number: "Wrong number", retry: "Retry",
};

// What the bot (or an operator) said the call came to, with its business label: "Done: paid".
export const dispositionLabel = (name, label) =>
  name ? `${DISPOSITIONS[name] || name}${label ? `: ${label}` : ""}` : "–";

const WAITING = {
  window: "Calling window closed",
  retry: "Retry delay",
  callback: "Callback asked for",
  frequency: "Frequency cap (per day / per week / min gap)",
  due: "Due: waiting for a dial slot",
  "campaign paused": "Campaign paused",
  "not started": "Campaign not started",
  "campaign not running": "Campaign not running",
  "gateway unavailable": "Gateway unavailable (its breaker is open)",
};

export const waitingLabel = (reason) => WAITING[reason] || reason.charAt(0).toUpperCase() + reason.slice(1);
export const outcomeLabel = (name) => OUTCOMES[name] || name;
export const stateLabel = (name) => CONTACT_STATES[name] || name;
