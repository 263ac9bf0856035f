// Building the page from elements, never from markup strings: every value from the API goes in
// as text, so nothing it holds can become HTML or script.
const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") element.textContent = String(value);
    else if (name === "class") element.setAttribute("class", value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "width%" ) element.style.width = `${value}%`;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h("a", {href: "#/", text: "Campaigns"}) or h("ul", {}, h("li", {}, "one")). */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** A labelled form field; `error` is filled by showProblems with the messages for its path. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const error = h("div", { class: "error", id: `${id}-error`, "aria-live": "polite" });
  input.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  return h("div", { class: "field" },
    h("label", { for: id, text: label }),
    hint ? h("span", { class: "hint", id: `${id}-hint`, text: hint }) : null,
    input, error);
}

/** Put each "path: message" problem next to the input whose data-path is its longest prefix;
 *  the rest go to `fallback` (a list). Returns how many found a field. */
export function showProblems(form, problems, fallback) {
  const inputs = [...form.querySelectorAll("[data-path]")];
  for (const input of inputs) {
    input.removeAttribute("aria-invalid");
    const slot = document.getElementById(`${input.id}-error`);
    if (slot) slot.textContent = "";
  }
  const rest = [];
  let placed = 0;
  for (const problem of problems) {
    const path = problem.split(": ")[0];
    let best = null;
    for (const input of inputs) {
      const p = input.dataset.path;
      const boundary = path.length === p.length || ".[".includes(path[p.length]);
      if (path.startsWith(p) && boundary && (!best || p.length > best.dataset.path.length)) best = input;
    }
    const slot = best && document.getElementById(`${best.id}-error`);
    if (slot) {
      best.setAttribute("aria-invalid", "true");
      slot.textContent = slot.textContent ? `${slot.textContent}; ${problem}` : problem;
      placed += 1;
    } else rest.push(problem);
  }
  if (fallback) replace(fallback, ...rest.map((p) => problemItem(p)));
  return placed;
}

export function problemItem(problem) {
  const at = problem.indexOf(": ");
  if (at < 0) return h("li", { text: problem });
  return h("li", {}, h("code", { text: problem.slice(0, at) }), " ", problem.slice(at + 2));
}

/** Save `text` as a file the browser downloads (nothing leaves the page). */
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function csvText(rows) {
  const cell = (v) => {
    const text = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}
