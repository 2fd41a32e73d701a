/**
 * Renders an analysis as one self-contained HTML page: inline CSS, charts drawn as inline SVG here (no
 * charting library, no network: a Content-Security-Policy forbids every fetch), and a few lines of inline
 * script for sorting tables and toggling chart series. Every text from the log is HTML-escaped.
 *
 * @internal
 */
import type { Analysis, SlowRequest, Timeline } from "./analyze.ts"

const palette = [
  "#4e79a7",
  "#f28e2b",
  "#59a14f",
  "#e15759",
  "#76b7b2",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
]

/** Escapes text for HTML content and attribute values. */
export const escapeHtml = (text: unknown): string =>
  String(text).replace(
    /[&<>"']/g,
    (c) => c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  )

/** Formats milliseconds for people: `0.42 ms`, `12.3 ms`, `1.52 s`. */
export const ms = (value: number): string =>
  !Number.isFinite(value)
    ? "–"
    : value >= 10_000
    ? `${(value / 1000).toFixed(1)} s`
    : value >= 1000
    ? `${(value / 1000).toFixed(2)} s`
    : value >= 100
    ? `${value.toFixed(0)} ms`
    : value >= 10
    ? `${value.toFixed(1)} ms`
    : `${value.toFixed(2)} ms`

const pct = (value: number): string => `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`

const time = (epochMs: number): string => {
  const d = new Date(epochMs)
  return Number.isFinite(d.getTime()) ? d.toISOString().slice(11, 19) : "–"
}

const niceMax = (value: number): number => {
  if (!(value > 0)) return 1
  const exp = Math.pow(10, Math.floor(Math.log10(value)))
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp
  return 10 * exp
}

const colorMap = (analysis: Analysis): Map<string, string> => {
  const map = new Map<string, string>([["(request)", "#333333"]])
  analysis.stages.forEach((s, i) => map.set(s.stageId, palette[i % palette.length]!))
  return map
}

// ---------------------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------------------

const latencyChart = (timeline: Timeline, colors: Map<string, string>): string => {
  const width = 1100
  const height = 340
  const left = 64
  const right = 16
  const top = 16
  const bottom = 36
  const plotW = width - left - right
  const plotH = height - top - bottom
  let max = 0
  for (const series of timeline.series) for (const v of series.p95) if (v !== null && v > max) max = v
  const yMax = niceMax(max)
  const n = timeline.buckets.length
  const x = (i: number) => left + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW)
  const y = (v: number) => top + plotH - (v / yMax) * plotH
  const parts: Array<string> = []
  for (let t = 0; t <= 4; t++) {
    const v = (yMax / 4) * t
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}"/>`,
      `<text class="axis" x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${escapeHtml(ms(v))}</text>`,
    )
  }
  const ticks = Math.min(6, n)
  for (let t = 0; t < ticks; t++) {
    const i = ticks <= 1 ? 0 : Math.round((t / (ticks - 1)) * (n - 1))
    parts.push(
      `<text class="axis" x="${x(i)}" y="${height - 12}" text-anchor="${
        t === 0 ? "start" : t === ticks - 1 ? "end" : "middle"
      }">${escapeHtml(time(timeline.buckets[i]!))}</text>`,
    )
  }
  for (const series of timeline.series) {
    const color = colors.get(series.stageId) ?? "#888"
    const segments: Array<Array<string>> = []
    let current: Array<string> = []
    const dots: Array<string> = []
    series.p95.forEach((v, i) => {
      if (v === null) {
        if (current.length > 0) segments.push(current)
        current = []
        return
      }
      current.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`)
      dots.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${color}"><title>${
          escapeHtml(`${series.stageId} p95 ${ms(v)} at ${time(timeline.buckets[i]!)}`)
        }</title></circle>`,
      )
    })
    if (current.length > 0) segments.push(current)
    const dash = series.stageId === "(request)" ? ` stroke-dasharray="5 3"` : ""
    parts.push(
      `<g class="series" data-series="${escapeHtml(series.stageId)}">${
        segments.map((points) =>
          `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${points.join(" ")}"/>`
        ).join("")
      }${dots.join("")}</g>`,
    )
  }
  const legend = timeline.series.map((series) =>
    `<button type="button" class="legend-item" data-series="${
      escapeHtml(series.stageId)
    }"><span class="swatch" style="background:${colors.get(series.stageId) ?? "#888"}"></span>${
      escapeHtml(series.stageId === "(request)" ? "whole request" : series.stageId)
    }</button>`
  ).join("")
  return `<div class="legend" id="latency-legend">${legend}</div>
<svg id="latency-chart" class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="p95 latency over time per stage">${
    parts.join("")
  }</svg>`
}

const waterfall = (request: SlowRequest, colors: Map<string, string>, index: number): string => {
  const width = 1100
  const labelW = 220
  const rowH = 18
  const bars = request.bars.slice(0, 40)
  const height = bars.length * rowH + 22
  const scale = (width - labelW - 70) / Math.max(request.durationMs, 1e-9)
  const parts: Array<string> = []
  for (let t = 0; t <= 4; t++) {
    const px = labelW + (t / 4) * (width - labelW - 70)
    parts.push(
      `<line class="grid" x1="${px}" x2="${px}" y1="0" y2="${height - 18}"/>`,
      `<text class="axis" x="${px}" y="${height - 4}" text-anchor="middle">${
        escapeHtml(ms((request.durationMs * t) / 4))
      }</text>`,
    )
  }
  bars.forEach((bar, i) => {
    const yy = i * rowH + 2
    const x0 = labelW + bar.startOffsetMs * scale
    const w = Math.max(1, bar.durationMs * scale)
    const failed = bar.status !== "ok"
    parts.push(
      `<text class="label" x="${8 + bar.depth * 12}" y="${yy + 12}">${escapeHtml(bar.stageId)}</text>`,
      `<rect class="bar${failed ? " failed" : ""}${bar.overBudget ? " over" : ""}" x="${
        x0.toFixed(1)
      }" y="${yy}" width="${w.toFixed(1)}" height="${rowH - 4}" fill="${
        colors.get(bar.stageId) ?? "#888"
      }"><title>${
        escapeHtml(
          `${bar.stageId}: ${ms(bar.durationMs)} from +${ms(bar.startOffsetMs)} (${bar.status}${
            bar.overBudget ? ", over budget" : ""
          })`,
        )
      }</title></rect>`,
      `<text class="value" x="${(x0 + w + 4).toFixed(1)}" y="${yy + 12}">${
        escapeHtml(ms(bar.durationMs))
      }</text>`,
    )
  })
  return `<div class="waterfall" data-request="${escapeHtml(request.requestId)}">
<h3>#${index + 1} <code>${escapeHtml(request.requestId)}</code> · ${escapeHtml(request.name)} · ${
    escapeHtml(ms(request.durationMs))
  } · <span class="status-${escapeHtml(request.status)}">${escapeHtml(request.status)}</span> · ${
    escapeHtml(request.timestamp)
  }</h3>
<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="stage waterfall">${
    parts.join("")
  }</svg>
</div>`
}

const hbars = (
  id: string,
  rows: ReadonlyArray<
    { readonly label: string; readonly value: number; readonly text: string; readonly color: string }
  >,
): string => {
  if (rows.length === 0) return `<p class="empty">Nothing to show.</p>`
  const width = 1100
  const labelW = 220
  const rowH = 22
  const max = Math.max(...rows.map((r) => r.value), 1e-9)
  const parts = rows.map((row, i) => {
    const w = Math.max(1, (row.value / max) * (width - labelW - 420))
    const yy = i * rowH
    return `<text class="label" x="8" y="${yy + 15}">${escapeHtml(row.label)}</text><rect x="${labelW}" y="${
      yy + 3
    }" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${row.color}"/><text class="value" x="${
      (labelW + w + 6).toFixed(1)
    }" y="${yy + 15}">${escapeHtml(row.text)}</text>`
  })
  return `<svg id="${id}" class="chart" viewBox="0 0 ${width} ${rows.length * rowH + 4}" role="img">${
    parts.join("")
  }</svg>`
}

// ---------------------------------------------------------------------------------------------------------
// Page
// ---------------------------------------------------------------------------------------------------------

const table = (
  id: string,
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<readonly [text: string, sort?: number]>>,
): string =>
  rows.length === 0
    ? `<p class="empty">Nothing to show.</p>`
    : `<table id="${id}" class="sortable"><thead><tr>${
      headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")
    }</tr></thead><tbody>${
      rows.map((row) =>
        `<tr>${
          row.map(([text, sort]) =>
            sort === undefined
              ? `<td>${escapeHtml(text)}</td>`
              : `<td class="num" data-sort="${Number.isFinite(sort) ? sort : 0}">${escapeHtml(text)}</td>`
          ).join("")
        }</tr>`
      ).join("")
    }</tbody></table>`

const style = `
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2733; background: #f6f7f9; }
body { margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #dde2e8; padding-bottom: 4px; }
h3 { font-size: 13px; font-weight: 600; margin: 14px 0 4px; }
.sub { color: #5b6675; margin: 0 0 16px; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; }
.card { background: #fff; border: 1px solid #dde2e8; border-radius: 8px; padding: 10px 12px; }
.card .k { font-size: 12px; color: #5b6675; } .card .v { font-size: 20px; font-weight: 600; margin-top: 2px; }
section { background: #fff; border: 1px solid #dde2e8; border-radius: 8px; padding: 4px 16px 16px; margin-top: 16px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid #eef1f4; text-align: left; }
th { cursor: pointer; user-select: none; background: #fafbfc; } th:hover { background: #eef1f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart { width: 100%; height: auto; display: block; }
.chart .grid { stroke: #eef1f4; } .chart .axis { font-size: 11px; fill: #5b6675; }
.chart .label { font-size: 12px; fill: #1d2733; } .chart .value { font-size: 11px; fill: #5b6675; }
.chart rect.failed { stroke: #c62828; stroke-width: 2; } .chart rect.over { stroke: #b26a00; stroke-dasharray: 3 2; stroke-width: 2; }
.legend { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.legend-item { border: 1px solid #dde2e8; background: #fff; border-radius: 14px; padding: 3px 10px; font-size: 12px; cursor: pointer; }
.legend-item.off { opacity: 0.35; } .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.series.hidden { display: none; }
.status-ok { color: #2e7d32; } .status-error { color: #c62828; } .status-interrupted, .status-unfinished { color: #b26a00; }
.empty { color: #5b6675; font-size: 13px; }
footer { color: #8a94a3; font-size: 12px; margin: 24px 0; }
`

const script = `
(function () {
  document.querySelectorAll("#latency-legend .legend-item").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-series");
      button.classList.toggle("off");
      document.querySelectorAll("#latency-chart .series").forEach(function (g) {
        if (g.getAttribute("data-series") === id) g.classList.toggle("hidden");
      });
    });
  });
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, column) {
      var descending = true;
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column], y = b.cells[column];
          var sx = x.getAttribute("data-sort"), sy = y.getAttribute("data-sort");
          var r = sx !== null && sy !== null ? Number(sx) - Number(sy) : x.textContent.localeCompare(y.textContent);
          return descending ? -r : r;
        });
        descending = !descending;
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.documentElement.setAttribute("data-ready", "true");
  document.documentElement.setAttribute("data-charts", String(document.querySelectorAll("svg.chart").length));
})();
`

/** Renders the report page. */
export const renderHtml = (analysis: Analysis, title = "stagetrace performance report"): string => {
  const colors = colorMap(analysis)
  const o = analysis.overall
  const range = analysis.from === undefined || analysis.to === undefined
    ? "no requests"
    : `${new Date(analysis.from).toISOString()} → ${new Date(analysis.to).toISOString()}`
  const cards = [
    ["requests", String(analysis.requests)],
    ["success", pct(o.successRate)],
    ["p50", ms(o.p50Ms)],
    ["p95", ms(o.p95Ms)],
    ["p99", ms(o.p99Ms)],
    ["over budget", String(analysis.overBudgetRequests)],
  ].map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${escapeHtml(v)}</div></div>`)
    .join("")

  const stageTable = table(
    "stage-table",
    ["stage", "count", "errors", "mean", "p50", "p95", "p99", "max", "share of time"],
    analysis.stages.map((s) => [
      [s.stageId],
      [String(s.count), s.count],
      [String(s.errors), s.errors],
      [ms(s.meanMs), s.meanMs],
      [ms(s.p50Ms), s.p50Ms],
      [ms(s.p95Ms), s.p95Ms],
      [ms(s.p99Ms), s.p99Ms],
      [ms(s.maxMs), s.maxMs],
      [pct(s.shareOfTime), s.shareOfTime],
    ]),
  )
  const bottleneckChart = hbars(
    "bottleneck-chart",
    analysis.bottlenecks.slice(0, 12).map((b) => ({
      label: b.stageId,
      value: b.requests,
      text: `${b.requests} requests (${pct(b.shareOfRequests)}), ${pct(b.meanShare)} of their time`,
      color: colors.get(b.stageId) ?? "#888",
    })),
  )
  const budgetTable = table(
    "budget-table",
    ["stage", "violations", "budget", "mean over", "max over"],
    analysis.budgets.map((b) => [
      [b.stageId],
      [String(b.violations), b.violations],
      [b.budgetMs === undefined ? "–" : ms(b.budgetMs), b.budgetMs ?? 0],
      [ms(b.meanOverMs), b.meanOverMs],
      [ms(b.maxOverMs), b.maxOverMs],
    ]),
  )
  const errorChart = hbars(
    "error-chart",
    analysis.errors.map((e, i) => ({
      label: e.category,
      value: e.failedRequests + e.failedStages,
      text: `${e.failedRequests} requests, ${e.failedStages} stages · ${e.topTypes.join(", ")}`,
      color: ["#e15759", "#f28e2b", "#edc948", "#b07aa1", "#9c755f", "#bab0ac", "#76b7b2"][i % 7]!,
    })),
  )
  const slowTable = table(
    "slow-table",
    ["attribute", "value", "slow requests", "share of slow", "share of normal", "over-representation"],
    analysis.slowValues.map((v) => [
      [v.key],
      [v.value],
      [String(v.slowCount), v.slowCount],
      [pct(v.slowShare), v.slowShare],
      [pct(v.normalShare), v.normalShare],
      [`${v.lift.toFixed(1)}×`, v.lift],
    ]),
  )

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p class="sub">${escapeHtml(analysis.services.join(", ") || "unknown service")} · ${escapeHtml(range)} · ${
    escapeHtml(analysis.sources.join(", "))
  }${analysis.skippedLines > 0 ? ` · ${analysis.skippedLines} other lines skipped` : ""}</p>
<div class="cards" id="cards">${cards}</div>

<section id="stages"><h2>Latency per stage</h2>${stageTable}</section>

<section id="latency"><h2>p95 latency over time</h2>
<p class="sub">Buckets of ${
    escapeHtml(ms(analysis.timeline.bucketMs))
  }; click a legend entry to hide or show it.</p>
${latencyChart(analysis.timeline, colors)}</section>

<section id="waterfalls"><h2>Slowest requests</h2>
${analysis.slowest.map((r, i) => waterfall(r, colors, i)).join("\n")}</section>

<section id="bottlenecks"><h2>Bottleneck ranking</h2>
<p class="sub">How many requests had the stage as a bottleneck (its own time at least the configured share of the request).</p>
${bottleneckChart}</section>

<section id="budgets"><h2>Budget violations</h2>
<p class="sub">${analysis.overBudgetRequests} of ${analysis.requests} requests over budget.</p>${budgetTable}</section>
<section id="errors"><h2>Errors by category</h2>
<p class="sub">${analysis.failedRequests} of ${analysis.requests} requests failed.</p>${errorChart}</section>

<section id="slow-vs-normal"><h2>Slow versus normal requests</h2>
<p class="sub">Slow: the slowest 10% (at least ${
    escapeHtml(ms(analysis.slowThresholdMs))
  }). Attribute and metadata values that appear more often among them than among the others.</p>
${slowTable}</section>
<footer>Generated by stagetrace · self-contained, no network needed.</footer>
</main>
<script>${script}</script>
</body>
</html>
`
}
