// Uploading contacts (the contacts tab, operator keys): a CSV and its report; rejected rows
// download as CSV.
import { api, BASE } from "./api.js";
import { h, replace, field, csvText, download } from "./dom.js";
import { count } from "./format.js";

function rowsTable(caption, rows) {
  return h("table", {}, h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "n", text: "Line" }), h("th", { scope: "col", text: "Value" }), h("th", { scope: "col", text: "Reason" }))),
    h("tbody", {}, rows.map((r) => h("tr", {}, h("td", { class: "n", text: r.line }), h("td", {}, h("code", { text: r.value })), h("td", { text: r.reason })))));
}

export function report(result, fileName) {
  const rows = [["kind", "line", "value", "reason"],
    ...result.rejected.map((r) => ["rejected", r.line, r.value, r.reason]),
    ...result.duplicate_rows.map((r) => ["duplicate", r.line, r.value, r.reason])];
  const summary = `${count(result.accepted)} accepted, ${count(result.duplicates)} duplicates, ${count(result.suppressed)} suppressed (do-not-call), ${count(result.rejected.length)} rejected, of ${count(result.rows)} rows.`;
  return h("section", { class: "panel stack", "aria-labelledby": "report-title", id: "upload-report" },
    h("h2", { id: "report-title", text: `Upload report: ${fileName}` }),
    h("p", { class: result.rejected.length ? "" : "ok", role: "status", text: summary }),
    result.rejected.length ? h("div", {}, h("h3", { text: "Rejected rows (not stored: fix them and upload those lines again)" }), h("div", { class: "scroll" }, rowsTable("Rejected rows", result.rejected))) : null,
    result.duplicate_rows.length ? h("details", {}, h("summary", { text: `${count(result.duplicate_rows.length)} duplicate rows (stored once)` }), rowsTable("Duplicate rows", result.duplicate_rows)) : null,
    rows.length > 1 ? h("button", { type: "button", class: "secondary", text: "Download the report (CSV)", onclick: () => download(`${fileName.replace(/\.csv$/i, "")}-report.csv`, new Blob([csvText(rows)], { type: "text/csv" })) }) : null);
}

/** The upload form with its report; `uploaded` runs after each stored upload. */
export function uploadPanel(id, ctx, uploaded) {
  const file = h("input", { type: "file", accept: ".csv,text/csv", required: true });
  const region = h("input", { type: "text", maxlength: 3, size: 4, placeholder: "US", autocomplete: "off" });
  const out = h("div", {});
  const submit = h("button", { type: "submit", text: "Upload" });
  const form = h("form", { class: "panel stack", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title", text: "Upload contacts" }),
    h("p", { class: "muted" }, "A CSV with a header row and a ", h("code", { text: "phone" }), " column; optional ", h("code", { text: "timezone" }), ", ", h("code", { text: "external_id" }), ", ", h("code", { text: "country" }), "; every other column goes to the call's metadata. Bad rows never stop an upload: each is reported with its line."),
    h("div", { class: "form-grid" },
      field("Contacts file (CSV)", file),
      field("Region for numbers without +", region, "Two letters, e.g. US; empty: the spec's default_region")),
    h("div", {}, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) { ctx.toast("Choose a CSV file first."); file.focus(); return; }
    const chosen = file.files[0];
    const data = new FormData();
    data.append("file", chosen, chosen.name);
    const query = region.value.trim() ? `?region=${encodeURIComponent(region.value.trim())}` : "";
    submit.disabled = true;
    replace(out, h("p", { class: "muted", role: "status", text: `Uploading ${chosen.name}…` }));
    try {
      const result = await api(`/campaigns/${id}/contacts${query}`, { method: "POST", body: data });
      replace(out, report(result, chosen.name));
      ctx.announce(`Upload done: ${count(result.accepted)} accepted, ${count(result.rejected.length)} rejected.`);
      uploaded();
    } catch (error) {
      replace(out, h("div", { class: "panel", role: "alert" }, h("strong", { text: "The file was refused; nothing was stored." }), h("p", { text: error.message })));
    } finally { submit.disabled = false; }
  });
  return h("div", { class: "stack" }, form, out,
    h("p", { class: "muted" }, "From a shell: ", h("code", { text: `curl -H "Authorization: Bearer $KEY" -F file=@contacts.csv ${location.origin}${BASE}/campaigns/${id}/contacts` })));
}
