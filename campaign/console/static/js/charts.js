// Charts as SVG and plain elements: each has a text summary for screen readers and a table.
import { h, s } from "./dom.js";

const W = 640;
const H = 190;
const PAD = { left: 44, right: 12, top: 12, bottom: 26 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** A line chart of `points` ([{at: Date, value}]) against a dashed `limit` line. */
export function lineChart({ title, points, limit, limitLabel, seriesLabel, format, tickFormat = format, timeFormat }) {
  const values = points.map((p) => p.value);
  const top = niceMax(Math.max(limit || 0, ...values, 0) * 1.1);
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = H - PAD.bottom;
  const y1 = PAD.top;
  const t0 = points.length ? points[0].at.getTime() : 0;
  const t1 = points.length ? points[points.length - 1].at.getTime() : 1;
  const x = (t) => x0 + ((t - t0) / Math.max(t1 - t0, 1)) * (x1 - x0);
  const y = (v) => y0 - (v / top) * (y0 - y1);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary() });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const value = top * fraction;
    svg.append(
      s("line", { class: "gridline", x1: x0, x2: x1, y1: y(value), y2: y(value) }),
      s("text", { class: "tick", x: x0 - 6, y: y(value) + 4, "text-anchor": "end", text: tickFormat(value) }),
    );
  }
  svg.append(s("line", { class: "axis", x1: x0, x2: x1, y1: y0, y2: y0 }));
  if (points.length > 1) {
    for (const index of [0, Math.floor((points.length - 1) / 2), points.length - 1]) {
      const at = points[index].at;
      svg.append(s("text", { class: "tick", x: x(at.getTime()), y: H - 8, "text-anchor": index === 0 ? "start" : index === points.length - 1 ? "end" : "middle", text: timeFormat(at) }));
    }
    const line = points.map((p) => `${x(p.at.getTime()).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    svg.append(
      s("polygon", { class: "area", points: `${x0},${y0} ${line} ${x1},${y0}` }),
      s("polyline", { class: "series", points: line }),
    );
  }
  if (limit) svg.append(s("line", { class: "limit", x1: x0, x2: x1, y1: y(limit), y2: y(limit) }));

  function summary() {
    const last = values.length ? values[values.length - 1] : 0;
    const peak = values.length ? Math.max(...values) : 0;
    return `${title}: now ${format(last)}, peak ${format(peak)}${limit ? `, ${limitLabel} ${format(limit)}` : ""}`;
  }

  const table = h("table", {},
    h("thead", {}, h("tr", {}, h("th", { text: "Interval ending" }), h("th", { class: "n", text: seriesLabel }))),
    h("tbody", {}, points.slice(-12).map((p) => h("tr", {}, h("td", { text: timeFormat(p.at) }), h("td", { class: "n", text: format(p.value) })))));
  return h("figure", { class: "chart" },
    h("h3", { text: title }),
    svg,
    h("figcaption", {},
      h("span", {}, h("span", { class: "key-series" }), seriesLabel),
      limit ? h("span", {}, h("span", { class: "key-limit" }), `${limitLabel} (${format(limit)})`) : null,
      h("span", { class: "visually-hidden", text: summary() })),
    h("details", {}, h("summary", { text: "Show the latest intervals as a table" }), table));
}

/** Horizontal bars with counts: a chart a screen reader reads as a list. */
export function barList(items, { total, colorPrefix = "--c-" } = {}) {
  const biggest = Math.max(1, ...items.map((i) => i.value));
  return h("ul", { class: "bars" }, items.map((item) => {
    const fill = h("span", { "width%": (100 * item.value) / biggest });
    fill.style.background = `var(${colorPrefix}${item.key}, var(--accent))`;
    return h("li", {},
      h("span", { text: item.label }),
      h("span", { class: "track", "aria-hidden": "true" }, fill),
      h("span", { class: "num n", text: item.text }));
  }));
}

/** One bar split by share, with a legend holding the counts. */
export function stackedBar(items, { label, colorPrefix = "--c-" }) {
  const total = items.reduce((sum, i) => sum + i.value, 0);
  const bar = h("div", { class: "bar stacked", role: "img", "aria-label": `${label}: ${items.map((i) => `${i.label} ${i.text}`).join(", ")}` });
  for (const item of items) {
    if (!item.value) continue;
    const part = h("span", { "width%": (100 * item.value) / Math.max(total, 1), title: `${item.label}: ${item.text}` });
    part.style.background = `var(${colorPrefix}${item.key}, var(--accent))`;
    bar.append(part);
  }
  const legend = h("ul", { class: "legend" }, items.map((item) => {
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = `var(${colorPrefix}${item.key}, var(--accent))`;
    return h("li", {}, swatch, `${item.label}: `, h("strong", { class: "num", text: item.text }));
  }));
  return h("div", {}, bar, legend);
}

/** A progress bar with its text: "1,234 of 2,000 (61.7 %)". */
export function progress(done, total, text) {
  const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total || 0, "aria-valuenow": done, "aria-valuetext": text });
  bar.append(h("span", { class: "fill", "width%": total ? (100 * done) / total : 0 }));
  return h("div", { class: "meter" }, bar, h("span", { class: "muted num", text }));
}
