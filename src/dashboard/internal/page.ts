/**
 * The dashboard page: one self-contained HTML document (inline CSS, inline script, inline SVG charts; no
 * CDN, no build step, no font or image to fetch), so it works offline. Its script follows the event
 * stream (`init`, then `tick` every interval), keeps the history in the browser, and fetches a request's
 * details on click. Every value from the server is put in the page as text (`textContent`), never as HTML.
 *
 * @internal
 */

const escapeAttribute = (value: string): string =>
  value.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

const style = `
:root { --bg:#f6f7f9; --panel:#fff; --text:#1d2330; --muted:#6b7385; --line:#e3e6ec; --accent:#2f6fde;
  --bad:#d64545; --warn:#d9822b; --good:#2f9e5b; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font-size: 13px; }
header { display: flex; flex-wrap: wrap; gap: 16px; align-items: center; padding: 10px 18px; background: #1d2330; color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
header .service { color: #c5cbe0; }
header .kpi { display: flex; flex-direction: column; min-width: 80px; }
header .kpi b { font-size: 16px; }
header .kpi span { color: #aab2c8; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
header form { margin-left: auto; display: flex; gap: 6px; }
header input { padding: 5px 8px; border-radius: 4px; border: 1px solid #4a536b; background: #2a3142; color: #fff; width: 220px; }
header button, .tabs button { padding: 5px 10px; border-radius: 4px; border: 1px solid var(--line); background: #fff; cursor: pointer; }
.pill { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 11px; font-weight: 600; background: #e3e6ec; color: #1d2330; }
.pill.live, .pill.healthy, .pill.ok { background: #d8f3e3; color: #17663a; }
.pill.reconnecting, .pill.degraded, .pill.warning { background: #fde9d2; color: #8a4a0b; }
.pill.critical, .pill.error, .pill.interrupted { background: #fadadb; color: #8d1f1f; }
main { display: grid; grid-template-columns: repeat(12, 1fr); gap: 12px; padding: 12px 18px 24px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; min-width: 0; }
section h2 { font-size: 13px; margin: 0 0 8px; font-weight: 600; display: flex; gap: 8px; align-items: center; }
section h2 small { color: var(--muted); font-weight: 400; }
.w3 { grid-column: span 3; } .w4 { grid-column: span 4; } .w5 { grid-column: span 5; } .w6 { grid-column: span 6; }
.w7 { grid-column: span 7; } .w8 { grid-column: span 8; } .w12 { grid-column: span 12; }
@media (max-width: 1100px) { .w3, .w4, .w5, .w6, .w7, .w8 { grid-column: span 12; } }
svg { display: block; width: 100%; overflow: visible; }
svg text { font-size: 10px; fill: var(--muted); }
svg .grid { stroke: var(--line); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 6px; }
.legend-item { cursor: pointer; user-select: none; display: inline-flex; align-items: center; gap: 4px; }
.legend-item.off { opacity: .35; }
.swatch { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: 11px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr.click { cursor: pointer; }
tbody tr.click:hover, tbody tr.selected { background: #eef3fd; }
.tabs { display: flex; gap: 4px; margin-bottom: 6px; }
.tabs button.on { background: var(--accent); color: #fff; border-color: var(--accent); }
.empty { color: var(--muted); padding: 8px 0; }
.scroll { max-height: 330px; overflow: auto; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.bad { color: var(--bad); } .warn { color: var(--warn); } .muted { color: var(--muted); }
#detail .meta { display: flex; flex-wrap: wrap; gap: 6px 18px; margin-bottom: 8px; }
#detail .meta a { color: var(--accent); }
.alert { border-left: 3px solid var(--bad); padding: 4px 8px; margin-bottom: 6px; background: #fdf5f5; }
.alert.latency_anomaly { border-color: var(--warn); background: #fff8ef; }
.hbar { height: 8px; background: var(--accent); border-radius: 2px; }
footer { padding: 0 18px 18px; color: var(--muted); }
`

const script = `
(() => {
  "use strict";
  const root = document.documentElement;
  const base = root.dataset.base || "";
  const palette = ["#2f6fde", "#e8a33d", "#2f9e5b", "#9b59b6", "#16a2b8", "#8c6d1f", "#e377c2", "#596275", "#17becf", "#bcbd22", "#7f3fbf", "#6b8e23"];
  const state = { meta: null, series: [], panels: null, quantile: 1, tab: "newest", hidden: new Set(), selected: null, search: null, ticks: 0 };

  const $ = (id) => document.getElementById(id);
  const h = (tag, attrs, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
    return el;
  };
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, ...children) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
    for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
    return el;
  };
  const fill = (el, ...children) => { el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined)); };
  const ms = (v) => v === null || v === undefined || Number.isNaN(v) ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : v >= 10 ? v.toFixed(1) + " ms" : v.toFixed(2) + " ms";
  const pct = (v) => (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%";
  const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
  const colorOf = (id) => { const ids = state.meta ? state.meta.chartStages : []; const i = ids.indexOf(id); return palette[(i < 0 ? ids.length : i) % palette.length]; };

  // ---- charts -------------------------------------------------------------------------------------------
  const nice = (max) => { if (!(max > 0)) return 1; const p = Math.pow(10, Math.floor(Math.log10(max))); const m = max / p; return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p; };
  const frame = (el, height, yMax, yFormat) => {
    const width = Math.max(320, el.clientWidth || 600);
    const pad = { l: 52, r: 8, t: 8, b: 20 };
    const now = state.panels ? state.panels.now : Date.now();
    const span = state.meta.bucketMs * state.meta.buckets;
    const t0 = now - span;
    const x = (t) => pad.l + ((t - t0) / span) * (width - pad.l - pad.r);
    const y = (v) => pad.t + (1 - v / yMax) * (height - pad.t - pad.b);
    const svg = s("svg", { viewBox: "0 0 " + width + " " + height, height, role: "img" });
    for (let i = 0; i <= 4; i++) {
      const v = (yMax / 4) * i;
      svg.append(s("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
      svg.append(s("text", { x: pad.l - 6, y: y(v) + 3, "text-anchor": "end" }, yFormat(v)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (span / 4) * i;
      svg.append(s("text", { x: x(t), y: height - 4, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, clock(t)));
    }
    return { svg, x, y, width, height, pad };
  };
  const lineChart = (el, lines, yFormat) => {
    let max = 0;
    for (const line of lines) for (const [, v] of line.points) if (v > max) max = v;
    const f = frame(el, 190, nice(max * 1.1), yFormat);
    for (const line of lines) {
      const g = s("g", { class: "series", "data-id": line.id });
      if (line.flat !== undefined) {
        g.append(s("line", { x1: f.pad.l, x2: f.width - f.pad.r, y1: f.y(line.flat), y2: f.y(line.flat), stroke: line.color, "stroke-dasharray": "4 3", "stroke-width": 1 }));
      } else {
        let d = "";
        let pen = false;
        for (const [t, v] of line.points) {
          if (v === null || v === undefined) { pen = false; continue; }
          d += (pen ? "L" : "M") + f.x(t).toFixed(1) + " " + f.y(v).toFixed(1);
          pen = true;
        }
        g.append(s("path", { d, fill: "none", stroke: line.color, "stroke-width": 1.6 }));
        for (const [t, v] of line.points) if (v !== null && v !== undefined) g.append(s("circle", { cx: f.x(t), cy: f.y(v), r: 1.6, fill: line.color }, s("title", {}, line.label + " " + clock(t) + ": " + yFormat(v))));
      }
      f.svg.append(g);
    }
    fill(el, f.svg);
  };

  const drawThroughput = () => {
    const sec = state.meta.bucketMs / 1000;
    let max = 0;
    for (const b of state.series) max = Math.max(max, b.requests / sec);
    const f = frame($("throughput"), 170, nice(max * 1.1), (v) => v.toFixed(v < 10 ? 1 : 0));
    const w = Math.max(1, f.x(state.meta.bucketMs) - f.x(0) - 1);
    for (const b of state.series) {
      const ok = (b.requests - b.failed) / sec;
      const bad = b.failed / sec;
      f.svg.append(s("rect", { class: "bar ok", x: f.x(b.t), y: f.y(ok + bad), width: w, height: Math.max(0, f.y(0) - f.y(ok)), fill: "#8fb3ee" }, s("title", {}, clock(b.t) + ": " + b.requests + " requests, " + b.failed + " failed, " + b.inFlight + " in flight")));
      if (b.failed > 0) f.svg.append(s("rect", { class: "bar failed", x: f.x(b.t), y: f.y(bad), width: w, height: Math.max(0, f.y(0) - f.y(bad)), fill: "#d64545" }));
    }
    let d = "";
    for (const b of state.series) d += (d ? "L" : "M") + (f.x(b.t) + w / 2).toFixed(1) + " " + f.y(b.inFlight).toFixed(1);
    if (d) f.svg.append(s("path", { d, fill: "none", stroke: "#1d2330", "stroke-width": 1, "stroke-dasharray": "2 2" }));
    fill($("throughput"), f.svg);
  };

  const drawLatency = () => {
    const pts = (key) => state.series.map((b) => [b.t + state.meta.bucketMs / 2, b[key]]);
    lineChart($("latency"), [
      { id: "p50", label: "p50", color: "#2f9e5b", points: pts("p50") },
      { id: "p95", label: "p95", color: "#2f6fde", points: pts("p95") },
      { id: "p99", label: "p99", color: "#d64545", points: pts("p99") },
    ], ms);
  };

  const drawStages = () => {
    const q = state.quantile;
    const ids = state.meta.chartStages;
    const lines = [];
    for (const id of ids) {
      if (state.hidden.has(id)) continue;
      const points = state.series.map((b) => [b.t + state.meta.bucketMs / 2, b.stages[id] ? b.stages[id][q] : null]);
      lines.push({ id, label: id, color: colorOf(id), points });
      const budget = state.panels.budgetTable[id];
      if (budget !== undefined) lines.push({ id: id + ":budget", label: id + " budget", color: colorOf(id), flat: budget, points: [[0, budget]] });
    }
    lineChart($("stage-chart"), lines, ms);
    fill($("stage-legend"), ids.map((id) => h("span", { class: "legend-item" + (state.hidden.has(id) ? " off" : ""), "data-id": id, onclick: () => { state.hidden.has(id) ? state.hidden.delete(id) : state.hidden.add(id); drawStages(); } }, h("span", { class: "swatch", style: "background:" + colorOf(id) }), id, state.panels.budgetTable[id] !== undefined ? h("span", { class: "muted" }, " (budget " + ms(state.panels.budgetTable[id]) + ")") : null)));
  };

  // ---- tables -------------------------------------------------------------------------------------------
  const table = (head, rows, empty) => rows.length === 0 ? h("div", { class: "empty" }, empty) : h("table", {}, h("thead", {}, h("tr", {}, head.map(([label, num]) => h("th", { class: num ? "num" : "" }, label)))), h("tbody", {}, rows));

  const drawStageTable = () => {
    const last = state.series.length > 1 ? state.series[state.series.length - 2] : state.series[state.series.length - 1];
    const rows = state.panels.stageTable.map((st) => {
      const recent = last && last.stages[st.stageId];
      const budget = state.panels.budgetTable[st.stageId];
      return h("tr", {}, h("td", {}, h("span", { class: "swatch", style: "background:" + colorOf(st.stageId) }), " ", st.stageId),
        h("td", { class: "num" }, st.count), h("td", { class: "num" + (st.errors > 0 ? " bad" : "") }, st.errors),
        h("td", { class: "num" }, ms(st.p50)), h("td", { class: "num" }, ms(st.p95)), h("td", { class: "num" }, ms(st.p99)),
        h("td", { class: "num" + (recent && budget !== undefined && recent[1] > budget ? " warn" : "") }, recent ? ms(recent[1]) : "–"),
        h("td", { class: "num" }, budget === undefined ? "" : ms(budget)));
    });
    fill($("stage-table"), table([["stage"], ["count", 1], ["errors", 1], ["p50", 1], ["p95", 1], ["p99", 1], ["p95 last bucket", 1], ["budget", 1]], rows, "No stage has run yet."));
  };

  const drawBottlenecks = () => {
    const rows = state.panels.bottlenecks.map((b) => h("tr", {}, h("td", {}, b.stageId), h("td", { class: "num" }, b.requests), h("td", { style: "width:40%" }, h("div", { class: "hbar", style: "width:" + Math.max(2, b.shareOfRequests * 100).toFixed(1) + "%" })), h("td", { class: "num" }, pct(b.shareOfRequests)), h("td", { class: "num" }, pct(b.meanShare))));
    fill($("bottlenecks"), table([["stage"], ["requests", 1], [""], ["of requests", 1], ["mean share", 1]], rows, "No bottleneck in the window."));
  };

  const statusPill = (row) => h("span", { class: "pill " + row.status }, row.status);
  const requestRows = (rows) => rows.map((row) => h("tr", { class: "click" + (state.selected === row.id ? " selected" : ""), "data-id": row.id, onclick: () => openRequest(row.id) },
    h("td", { class: "mono" }, row.id), h("td", {}, row.name), h("td", {}, clock(row.start)), h("td", { class: "num" }, ms(row.ms)),
    h("td", {}, statusPill(row), row.overBudget ? h("span", { class: "pill warning" }, "over budget") : null),
    h("td", {}, row.error ? row.error.type + (row.error.category ? " [" + row.error.category + "]" : "") : ""), h("td", { class: "num" }, row.stages)));

  const drawRequests = () => {
    const lists = state.panels.requests;
    const rows = state.tab === "search" ? (state.search || []) : lists[state.tab];
    for (const button of document.querySelectorAll("#request-tabs button")) button.classList.toggle("on", button.dataset.tab === state.tab);
    fill($("requests"), table([["request id"], ["name"], ["start"], ["duration", 1], ["status"], ["error"], ["stages", 1]], requestRows(rows), state.tab === "search" ? "No request matches." : "No request yet."));
  };

  // ---- request details ----------------------------------------------------------------------------------
  const flatten = (stages, depth, out) => { for (const st of stages) { out.push([st, depth]); flatten(st.substages || [], depth + 1, out); } return out; };
  const waterfall = (summary) => {
    const rows = flatten(summary.stages, 0, []);
    const width = Math.max(420, $("detail").clientWidth - 30 || 700);
    const label = 190, rowH = 20, pad = 6;
    const origin = Math.min(0, ...rows.map(([st]) => st.startOffsetMs));
    const total = Math.max(summary.durationMs, ...rows.map(([st]) => st.startOffsetMs + st.durationMs)) - origin || 1e-9;
    const x = (t) => label + ((t - origin) / total) * (width - label - 70);
    const svg = s("svg", { viewBox: "0 0 " + width + " " + (rows.length * rowH + pad * 2), height: rows.length * rowH + pad * 2, class: "waterfall" });
    rows.forEach(([st, depth], i) => {
      const y = pad + i * rowH;
      const color = !st.success ? "#d64545" : st.overBudget ? "#d9822b" : colorOf(st.stageId);
      svg.append(s("text", { x: 4 + depth * 12, y: y + 13 }, st.stageId));
      svg.append(s("rect", { class: "bar", x: x(st.startOffsetMs), y: y + 3, width: Math.max(1.5, x(st.startOffsetMs + st.durationMs) - x(st.startOffsetMs)), height: rowH - 7, rx: 2, fill: color }, s("title", {}, st.stageId + ": " + ms(st.durationMs) + " at +" + ms(st.startOffsetMs) + (st.error ? " — " + st.error.type + ": " + st.error.message : ""))));
      svg.append(s("text", { x: x(st.startOffsetMs + st.durationMs) + 4, y: y + 13 }, ms(st.durationMs)));
    });
    return svg;
  };

  const openRequest = async (id) => {
    state.selected = id;
    drawRequests();
    const detail = $("detail");
    detail.hidden = false;
    fill($("detail-body"), h("div", { class: "empty" }, "Loading " + id + "…"));
    let data;
    try {
      const response = await fetch(base + "/api/request?id=" + encodeURIComponent(id), { credentials: "same-origin" });
      if (response.status === 404) { fill($("detail-body"), h("div", { class: "empty" }, "Request " + id + " is no longer held by the dashboard.")); return; }
      data = await response.json();
    } catch (error) {
      fill($("detail-body"), h("div", { class: "empty bad" }, "Cannot load the request: " + error));
      return;
    }
    const sm = data.summary;
    const errors = flatten(sm.stages, 0, []).filter(([st]) => st.error);
    const metadata = flatten(sm.stages, 0, []).filter(([st]) => st.metadata && Object.keys(st.metadata).length > 0);
    const attrs = Object.entries(sm.attributes || {});
    fill($("detail-body"),
      h("div", { class: "meta" },
        h("span", {}, h("b", { class: "mono" }, sm.requestId)), h("span", {}, sm.name), h("span", {}, ms(sm.durationMs)), statusPill(sm),
        sm.overBudget ? h("span", { class: "pill warning" }, "over budget" + (sm.budgetMs !== undefined ? " (" + ms(sm.budgetMs) + ")" : "")) : null,
        h("span", {}, "trace ", data.traceUrl ? h("a", { class: "mono", id: "trace-link", href: data.traceUrl, target: "_blank", rel: "noopener noreferrer" }, sm.traceId) : h("span", { class: "mono", id: "trace-id" }, sm.traceId)),
        h("span", { class: "muted" }, new Date(sm.startTime).toISOString()),
        sm.keptBecause ? h("span", { class: "muted" }, "exported: " + sm.keptBecause) : null),
      sm.error ? h("div", { class: "alert" }, h("b", {}, sm.error.type), sm.error.category ? " [" + sm.error.category + "]" : "", sm.error.retryable === true ? " retryable" : "", ": ", sm.error.message) : null,
      h("h2", {}, "Waterfall", h("small", {}, sm.stageCount + " stages" + (sm.truncated ? ", truncated" : ""))),
      waterfall(sm),
      sm.bottlenecks.length > 0 ? h("div", { class: "muted" }, "Bottlenecks: " + sm.bottlenecks.map((b) => b.stageId + " " + pct(b.share)).join(", ")) : null,
      errors.length > 0 ? [h("h2", {}, "Errors"), table([["stage"], ["type"], ["category"], ["retryable"], ["message"]], errors.map(([st]) => h("tr", { class: "error-row" }, h("td", {}, st.stageId), h("td", {}, st.error.type), h("td", {}, st.error.category || ""), h("td", {}, st.error.retryable === undefined ? "" : String(st.error.retryable)), h("td", { style: "white-space:normal" }, st.error.message))), "")] : null,
      attrs.length > 0 || metadata.length > 0 ? [h("h2", {}, "Attributes and metadata"), table([["where"], ["key"], ["value"]], [
        ...attrs.map(([k, v]) => h("tr", {}, h("td", {}, "request"), h("td", {}, k), h("td", { class: "mono" }, JSON.stringify(v)))),
        ...metadata.flatMap(([st]) => Object.entries(st.metadata).map(([k, v]) => h("tr", {}, h("td", {}, st.stageId), h("td", {}, k), h("td", { class: "mono" }, JSON.stringify(v))))),
      ], "")] : null,
      h("h2", {}, "Log records", h("small", {}, data.logs.length + " captured")),
      table([["time"], ["level"], ["stage"], ["message"], ["fields"]], data.logs.map((rec) => {
        const extra = Object.entries(rec).filter(([k]) => !["timestamp", "level", "message", "service", "environment", "version", "trace_id", "span_id", "request_id", "stage_id"].includes(k));
        return h("tr", { class: "log-row" }, h("td", { class: "mono" }, String(rec.timestamp || "").slice(11, 23)), h("td", { class: rec.level === "error" || rec.level === "fatal" ? "bad" : rec.level === "warn" ? "warn" : "" }, rec.level), h("td", {}, rec.stage_id || ""), h("td", { style: "white-space:normal" }, rec.message), h("td", { class: "mono", style: "white-space:normal" }, extra.map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join(" ")));
      }), "No log record was captured for this request."),
    );
    root.dataset.detail = sm.requestId;
  };

  // ---- comparison with the previous version ----------------------------------------------------------
  const runCompare = async () => {
    fill($("compare-body"), h("div", { class: "empty" }, "Comparing…"));
    const response = await fetch(base + "/api/compare", { credentials: "same-origin" });
    const data = await response.json();
    if (data.error) return fill($("compare-body"), h("div", { class: "empty" }, data.error));
    const c = data.comparison;
    const signed = (v, f) => (v > 0 ? "+" : v < 0 ? "−" : "±") + f(Math.abs(v));
    const shift = (q) => h("td", { class: "num" + (q.significant ? " " + (q.deltaMs > 0 ? "bad" : "warn") : "") }, ms(q.beforeMs) + " → " + ms(q.afterMs) + " (" + signed(q.relative, pct) + ")", Number.isFinite(q.ciLowMs) ? h("div", { class: "muted" }, "[" + signed(q.ciLowMs, ms) + ", " + signed(q.ciHighMs, ms) + "]") : null);
    fill($("compare-body"),
      h("div", {}, c.before.label + " (" + c.before.requests + " requests) → " + c.after.label + " (" + c.after.requests + " requests)"),
      h("div", {}, h("b", {}, "Slower: "), h("span", { id: "compare-slower" }, c.slower.join(", ") || "none"), " · ", h("b", {}, "Faster: "), c.faster.join(", ") || "none"),
      table([["stage"], ["n before", 1], ["n after", 1], ["p50", 1], ["p95", 1], ["p (Holm)", 1], ["verdict"]], c.stages.map((st) => h("tr", {}, h("td", {}, st.stageId), h("td", { class: "num" }, st.beforeCount), h("td", { class: "num" }, st.afterCount), shift(st.shifts[0]), shift(st.shifts[1]), h("td", { class: "num" }, st.test ? (st.test.pAdjusted < 0.0001 ? "<0.0001" : st.test.pAdjusted.toFixed(4)) : "–"), h("td", { class: st.verdict === "slower" ? "bad" : st.verdict === "faster" ? "warn" : "muted" }, st.verdict))), "Nothing to compare."),
      h("div", { class: "muted" }, "Mann-Whitney U per stage (Holm-adjusted, α " + c.alpha + "), 95% bootstrap intervals of the shifts."));
  };

  // ---- side panels --------------------------------------------------------------------------------------
  const drawAlerts = () => {
    const alerts = state.panels.alerts;
    if (alerts === null) return fill($("alerts"), h("div", { class: "empty" }, "Alerts are off."));
    const anomaly = state.panels.anomalyDetection;
    fill($("alerts"), alerts.length === 0 ? h("div", { class: "empty" }, "No alert." + (anomaly ? " Latency anomalies: p95 per " + (anomaly.windowMs / 1000) + " s window against median + " + anomaly.madMultiplier + "×MAD of the last " + anomaly.baselineWindows + " windows." : "")) : alerts.map((a) => h("div", { class: "alert " + a.kind },
      h("div", {}, h("b", {}, a.kind === "latency_anomaly" ? "Latency anomaly" : "Error alert"), " · ", a.stageId, " · ", h("span", { class: "muted" }, clock(a.lastAt))),
      a.kind === "latency_anomaly"
        ? h("div", {}, "p95 " + ms(a.p95Ms) + " over " + (a.windowMs / 1000) + " s > " + ms(a.thresholdMs) + " (baseline " + ms(a.baselineMs) + ", " + a.count + " samples)")
        : h("div", {}, a.count + " " + a.category + " errors within " + (a.windowMs / 60000) + " min (threshold " + a.threshold + ")"))));
  };

  const drawBudgets = () => {
    const b = state.panels.budgets;
    if (b === null) return fill($("budgets"), h("div", { class: "empty" }, "Budgets are not installed."));
    const rows = Object.entries(b.byStage).sort((x, y) => y[1].count - x[1].count).map(([id, v]) => h("tr", {}, h("td", {}, id), h("td", { class: "num warn" }, v.count), h("td", { class: "num" }, "+" + ms(v.avgOverageMs)), h("td", { class: "num" }, "+" + v.avgOveragePercent.toFixed(0) + "%"), h("td", { class: "num" }, "+" + ms(v.maxOverageMs))));
    fill($("budgets"), table([["stage"], ["violations", 1], ["avg over", 1], ["avg %", 1], ["max over", 1]], rows, "Every budget met in the window."));
  };

  const drawErrors = () => {
    const e = state.panels.errors;
    if (e === null) return fill($("errors"), h("div", { class: "empty" }, "Error classification is not installed."));
    const rows = Object.entries(e.byCategory).filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]).map(([c, n]) => h("tr", {}, h("td", {}, c), h("td", { class: "num bad" }, n), h("td", {}, Object.entries(e.byStage).filter(([, v]) => v.byCategory[c]).map(([id, v]) => id + " " + v.byCategory[c]).join(", "))));
    fill($("errors"), table([["category"], ["errors", 1], ["stages"]], rows, "No error in the window."));
  };

  const drawStatus = () => {
    const p = state.panels;
    const items = [];
    if (p.health) {
      items.push(h("div", {}, "Health ", h("span", { class: "pill " + p.health.status, id: "health-status" }, p.health.status)));
      for (const [name, check] of Object.entries(p.health.checks)) items.push(h("div", {}, h("span", { class: "pill " + check.status }, check.status), " ", name, ": ", h("span", { class: "muted" }, check.message)));
    }
    const x = p.exporter;
    if (x) {
      const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
      items.push(h("div", { style: "margin-top:6px" }, "Export: " + sum(x.exported) + " exported, " + sum(x.dropped) + " dropped, " + x.failures + " failed, queue " + x.queued + "/" + x.capacity));
      if (x.lastError) items.push(h("div", { class: "bad" }, "last error: " + x.lastError));
    } else items.push(h("div", { class: "muted", style: "margin-top:6px" }, "No exporter configured."));
    fill($("status"), items);
  };

  const drawHeader = () => {
    const p = state.panels, m = state.meta;
    $("service").textContent = m.service.name + (m.service.version ? " " + m.service.version : "") + (m.service.environment ? " · " + m.service.environment : "");
    const recent = state.series.slice(-13, -1);
    const req = recent.reduce((a, b) => a + b.requests, 0), bad = recent.reduce((a, b) => a + b.failed, 0);
    $("kpi-rate").textContent = recent.length === 0 ? "–" : (req / (recent.length * m.bucketMs / 1000)).toFixed(1);
    $("kpi-errors").textContent = req === 0 ? "–" : pct(bad / req);
    $("kpi-inflight").textContent = p.inFlight;
    $("kpi-total").textContent = p.totalRequests;
    const health = p.health ? p.health.status : "unknown";
    $("kpi-health").textContent = health;
    $("kpi-health").className = "pill " + health;
    $("footer").textContent = "Read-only · buckets of " + (m.bucketMs / 1000) + " s over " + (m.bucketMs * m.buckets / 60000) + " min · " + p.dashboard.connections + " open page(s), " + p.dashboard.droppedClients + " dropped for being slow · " + p.dashboard.capturedLogs + " log records captured";
  };

  const render = () => {
    if (!state.meta || !state.panels) return;
    drawHeader(); drawThroughput(); drawLatency(); drawStages(); drawStageTable(); drawBottlenecks(); drawRequests(); drawAlerts(); drawBudgets(); drawErrors(); drawStatus();
    state.ticks++;
    root.dataset.ticks = String(state.ticks);
    root.dataset.ready = "true";
  };

  const apply = (message) => {
    if (message.type === "init") {
      state.meta = message;
      state.series = message.series;
      $("compare").hidden = !message.compare;
    } else if (state.meta) {
      for (const bucket of message.series) {
        const i = state.series.findIndex((b) => b.t === bucket.t);
        if (i >= 0) state.series[i] = bucket; else state.series.push(bucket);
      }
      state.series.sort((a, b) => a.t - b.t);
      const oldest = message.now - state.meta.bucketMs * state.meta.buckets;
      while (state.series.length > 0 && state.series[0].t < oldest) state.series.shift();
      for (const b of message.series) for (const id of Object.keys(b.stages)) if (!state.meta.chartStages.includes(id) && state.meta.chartStages.length < 24) state.meta.chartStages.push(id);
    }
    state.panels = message;
    render();
  };

  const connect = () => {
    const events = new EventSource(base + "/events");
    const status = $("live");
    events.addEventListener("init", (e) => apply(JSON.parse(e.data)));
    events.addEventListener("tick", (e) => apply(JSON.parse(e.data)));
    events.onopen = () => { status.textContent = "live"; status.className = "pill live"; };
    events.onerror = () => { status.textContent = "reconnecting"; status.className = "pill reconnecting"; };
  };

  for (const button of document.querySelectorAll("#request-tabs button")) button.addEventListener("click", () => { state.tab = button.dataset.tab; drawRequests(); });
  for (const button of document.querySelectorAll("#quantiles button")) button.addEventListener("click", () => {
    state.quantile = Number(button.dataset.q);
    for (const b of document.querySelectorAll("#quantiles button")) b.classList.toggle("on", b === button);
    drawStages();
  });
  $("search").addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = $("search-input").value.trim();
    if (q === "") return;
    const response = await fetch(base + "/api/search?q=" + encodeURIComponent(q), { credentials: "same-origin" });
    const data = await response.json();
    state.search = data.results;
    state.tab = "search";
    drawRequests();
    root.dataset.search = String(data.results.length);
    if (data.results.length > 0 && data.results[0].id === q) openRequest(q);
  });
  $("compare-run").addEventListener("click", runCompare);
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; state.selected = null; drawRequests(); });
  addEventListener("resize", render);
  connect();
})();
`

const body = `
<header>
  <h1>stagetrace</h1><span class="service" id="service"></span>
  <span class="pill" id="live">connecting</span>
  <div class="kpi"><b id="kpi-rate">–</b><span>req/s (1 min)</span></div>
  <div class="kpi"><b id="kpi-errors">–</b><span>error rate</span></div>
  <div class="kpi"><b id="kpi-inflight">–</b><span>in flight</span></div>
  <div class="kpi"><b id="kpi-total">–</b><span>requests</span></div>
  <div class="kpi"><b><span class="pill" id="kpi-health">–</span></b><span>health</span></div>
  <form id="search" role="search"><input id="search-input" placeholder="Find a request by id" autocomplete="off"><button type="submit">Find</button></form>
</header>
<main>
  <section class="w6"><h2>Throughput <small>requests/s per bucket, failed in red, in flight dashed</small></h2><div id="throughput"></div></section>
  <section class="w6"><h2>Request latency <small>p50 · p95 · p99</small></h2><div id="latency"></div></section>
  <section class="w8"><h2>Stage latency over time <small>from the StageStats sketches; dashed: budget</small>
    <span class="tabs" id="quantiles" style="margin:0 0 0 auto"><button data-q="0">p50</button><button data-q="1" class="on">p95</button><button data-q="2">p99</button></span></h2>
    <div id="stage-chart"></div><div class="legend" id="stage-legend"></div></section>
  <section class="w4"><h2>Bottlenecks <small>stages taking ≥ the bottleneck share of their request</small></h2><div class="scroll" id="bottlenecks"></div></section>
  <section class="w12"><h2>Stages <small>since start; last bucket p95 against the budget</small></h2><div class="scroll" id="stage-table"></div></section>
  <section class="w7"><h2>Requests</h2>
    <div class="tabs" id="request-tabs"><button data-tab="newest" class="on">Newest</button><button data-tab="slowest">Slowest</button><button data-tab="failed">Failed</button><button data-tab="search">Search</button></div>
    <div class="scroll" id="requests"></div></section>
  <section class="w5"><h2>Alerts</h2><div class="scroll" id="alerts"></div></section>
  <section class="w12" id="detail" hidden><h2>Request <button id="detail-close" style="margin-left:auto">Close</button></h2><div id="detail-body"></div></section>
  <section class="w12" id="compare" hidden><h2>Compared with the previous version <small>requests in memory against the newest other service.version of the logs</small><button id="compare-run" style="margin-left:auto">Compare</button></h2><div id="compare-body"><div class="empty">Press Compare.</div></div></section>
  <section class="w4"><h2>Budget violations <small>in the window</small></h2><div class="scroll" id="budgets"></div></section>
  <section class="w4"><h2>Errors by category <small>in the window</small></h2><div class="scroll" id="errors"></div></section>
  <section class="w4"><h2>Health and export</h2><div id="status"></div></section>
</main>
<footer id="footer"></footer>
`

/** The page served under `path`, and its script (whose hash the Content-Security-Policy allows). */
export const renderPage = (path: string): { readonly html: string; readonly script: string } => ({
  script,
  html: `<!doctype html>
<html lang="en" data-base="${escapeAttribute(path === "/" ? "" : path)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>stagetrace dashboard</title>
<style>${style}</style>
</head>
<body>${body}<script>${script}</script>
</body>
</html>
`,
})
