/**
 * Text and HTML renderings of a comparison, and reading the two sides from JSONL (two paths, or one path
 * split by `service.version`).
 *
 * @internal
 */
import {
  type CompareOptions,
  compareSides,
  type Comparison,
  requestRow,
  Side,
  type StageComparison,
} from "./compare.ts"
import { readFile, sourcesOf } from "./read.ts"

const ms = (value: number): string =>
  !Number.isFinite(value)
    ? "–"
    : Math.abs(value) >= 1000
    ? `${(value / 1000).toFixed(2)} s`
    : Math.abs(value) >= 10
    ? `${value.toFixed(1)} ms`
    : `${value.toFixed(2)} ms`

const signed = (value: number, format: (v: number) => string): string =>
  `${value > 0 ? "+" : value < 0 ? "−" : "±"}${format(Math.abs(value))}`

const percent = (value: number): string => `${(value * 100).toFixed(Math.abs(value) < 0.1 ? 1 : 0)}%`

const pValue = (p: number): string => (p < 0.0001 ? "<0.0001" : p.toFixed(4))

const sideText = (side: Comparison["before"]): string =>
  `${side.label}${
    side.versions.length > 0 ? ` (version ${side.versions.join(", ")})` : ""
  }: ${side.requests} requests`

/** A short text report of a comparison. */
export const renderCompareText = (c: Comparison): string => {
  const lines = [
    `Comparing ${sideText(c.before)}`,
    `     with ${sideText(c.after)}`,
    `Mann-Whitney U per stage (Holm-adjusted, α = ${c.alpha}); 95% bootstrap intervals of each quantile's shift ` +
    `(${c.replicates} replicates)`,
    "",
    `${"stage".padEnd(24)}${"n before".padStart(9)}${"n after".padStart(9)}  ${"p50 shift".padEnd(30)}${
      "p95 shift".padEnd(30)
    }${"p (adj.)".padStart(9)}  verdict`,
  ]
  for (const s of c.stages) {
    const shift = (i: number) => {
      const q = s.shifts[i]!
      const ci = Number.isFinite(q.ciLowMs) ? ` [${signed(q.ciLowMs, ms)}, ${signed(q.ciHighMs, ms)}]` : ""
      return `${signed(q.deltaMs, ms)} (${signed(q.relative, percent)})${ci}`
    }
    lines.push(
      `${s.stageId.padEnd(24)}${String(s.beforeCount).padStart(9)}${String(s.afterCount).padStart(9)}  ${
        shift(0).padEnd(30)
      }${shift(1).padEnd(30)}${
        (s.test === undefined ? "–" : pValue(s.test.pAdjusted)).padStart(9)
      }  ${s.verdict}`,
    )
  }
  lines.push("")
  const named = (ids: ReadonlyArray<string>) =>
    ids.map((id) => {
      const s = c.stages.find((row) => row.stageId === id)!
      return `${id} (p95 ${signed(s.shifts[1]!.relative, percent)})`
    }).join(", ")
  lines.push(`Slower: ${c.slower.length === 0 ? "none" : named(c.slower)}`)
  lines.push(`Faster: ${c.faster.length === 0 ? "none" : named(c.faster)}`)
  const request = c.stages.find((s) => s.stageId === requestRow)
  if (request !== undefined) lines.push(`Whole requests: ${request.verdict}`)
  return lines.join("\n")
}

const escape = (text: string): string =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

const verdictClass = (s: StageComparison): string =>
  s.verdict === "slower" ? "slower" : s.verdict === "faster" ? "faster" : "same"

/** The forest plot of the p95 shifts (relative, with their intervals). */
const forest = (c: Comparison): string => {
  const rows = c.stages.filter((s) => Number.isFinite(s.shifts[1]!.ciLowMs) && s.shifts[1]!.beforeMs > 0)
  if (rows.length === 0) return ""
  const rel = (s: StageComparison, v: number) => v / s.shifts[1]!.beforeMs
  let extent = 0.1
  for (const s of rows) {
    extent = Math.max(extent, Math.abs(rel(s, s.shifts[1]!.ciLowMs)), Math.abs(rel(s, s.shifts[1]!.ciHighMs)))
  }
  extent = Math.min(extent * 1.1, 10)
  const width = 760
  const label = 190
  const rowH = 22
  const height = rows.length * rowH + 30
  const x = (v: number) =>
    label + ((Math.max(-extent, Math.min(extent, v)) + extent) / (2 * extent)) * (width - label - 20)
  let svg =
    `<svg id="forest" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">`
  svg += `<line x1="${x(0)}" x2="${x(0)}" y1="0" y2="${height - 20}" stroke="#999" stroke-dasharray="3 3"/>`
  for (const tick of [-extent, -extent / 2, 0, extent / 2, extent]) {
    svg += `<text x="${x(tick)}" y="${height - 6}" text-anchor="middle">${
      escape(signed(tick, percent))
    }</text>`
  }
  rows.forEach((s, i) => {
    const y = i * rowH + 12
    const shift = s.shifts[1]!
    const color = s.verdict === "slower" ? "#d64545" : s.verdict === "faster" ? "#2f9e5b" : "#6b7385"
    svg += `<text x="4" y="${y + 4}">${escape(s.stageId)}</text>`
    svg +=
      `<line class="ci" x1="${x(rel(s, shift.ciLowMs))}" x2="${
        x(rel(s, shift.ciHighMs))
      }" y1="${y}" y2="${y}" ` +
      `stroke="${color}" stroke-width="2"/>`
    svg += `<circle cx="${x(shift.relative)}" cy="${y}" r="4" fill="${color}"><title>${
      escape(`${s.stageId}: p95 ${ms(shift.beforeMs)} → ${ms(shift.afterMs)}`)
    }</title></circle>`
  })
  return svg + "</svg>"
}

/** A self-contained HTML page of a comparison (no script, no network). */
export const renderCompareHtml = (c: Comparison, title = "stagetrace comparison"): string => {
  const cell = (s: StageComparison, i: number) => {
    const q = s.shifts[i]!
    const ci = Number.isFinite(q.ciLowMs)
      ? `<br><small>[${escape(signed(q.ciLowMs, ms))}, ${escape(signed(q.ciHighMs, ms))}]</small>`
      : ""
    return `<td class="num${q.significant ? " sig" : ""}">${escape(ms(q.beforeMs))} → ${
      escape(ms(q.afterMs))
    }<br>${escape(signed(q.deltaMs, ms))} (${escape(signed(q.relative, percent))})${ci}</td>`
  }
  const rows = c.stages.map((s) =>
    `<tr class="${verdictClass(s)}"><td>${
      escape(s.stageId)
    }</td><td class="num">${s.beforeCount}</td><td class="num">${s.afterCount}</td>${cell(s, 0)}${
      cell(s, 1)
    }${cell(s, 2)}<td class="num">${
      s.test === undefined ? "–" : escape(pValue(s.test.pAdjusted))
    }</td><td class="num">${
      s.test === undefined ? "–" : s.test.probabilityOfSuperiority.toFixed(3)
    }</td><td class="verdict">${escape(s.verdict)}</td></tr>`
  ).join("\n")
  const list = (ids: ReadonlyArray<string>) => ids.length === 0 ? "none" : ids.map(escape).join(", ")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escape(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #1d2330; font-size: 13px; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 24px; }
table { border-collapse: collapse; } th, td { padding: 4px 8px; border-bottom: 1px solid #e3e6ec; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td.sig { font-weight: 600; }
tr.slower td.verdict { color: #d64545; font-weight: 600; } tr.faster td.verdict { color: #2f9e5b; font-weight: 600; }
small, .muted { color: #6b7385; } svg text { font-size: 11px; fill: #444; }
</style></head><body>
<h1>${escape(title)}</h1>
<p>${escape(sideText(c.before))}<br>${escape(sideText(c.after))}</p>
<p><b>Slower:</b> <span id="slower">${list(c.slower)}</span> · <b>Faster:</b> <span id="faster">${
    list(c.faster)
  }</span></p>
<h2>p95 shift per stage <small>(point, and 95% bootstrap interval; relative to before)</small></h2>
${forest(c)}
<h2>Stages</h2>
<table id="compare-table"><thead><tr><th>stage</th><th>n before</th><th>n after</th><th>p50</th><th>p95</th><th>p99</th>
<th>p (Holm)</th><th>P(after &gt; before)</th><th>verdict</th></tr></thead><tbody>
${rows}
</tbody></table>
<p class="muted">Two-sided Mann-Whitney U test on each stage's durations (normal approximation with tie and continuity
corrections), p-values adjusted with Holm's method, α = ${c.alpha}. Quantile shifts are after − before with 95% percentile
bootstrap intervals (${c.replicates} replicates). A stage is named slower or faster when its adjusted p-value is below α and
its p50 or p95 moved that way by at least ${percent(c.minChange)} with an interval excluding 0.</p>
</body></html>
`
}

/** At most this many versions are told apart when one set is split by `service.version`. */
const maxVersions = 64

/** Reads both sides: two paths, or one path split by `service.version` (the two newest, or `versions`). */
export const readSides = async (
  before: string,
  after: string | undefined,
  options: CompareOptions & { readonly versions?: readonly [string, string] | undefined } = {},
): Promise<{ readonly before: Side; readonly after: Side; readonly skippedLines: number }> => {
  const maxSamples = Math.max(10, Math.floor(options.maxSamples ?? 20_000))
  const seed = options.seed ?? 1
  let skippedLines = 0
  if (after !== undefined) {
    const [beforeLabel, afterLabel] = options.labels ?? [before, after]
    const sides = [
      new Side(beforeLabel, maxSamples, seed),
      new Side(afterLabel, maxSamples, seed + 1),
    ] as const
    for (const [side, path] of [[sides[0], before], [sides[1], after]] as const) {
      for (const source of await sourcesOf(path)) {
        side.sources.push(source)
        skippedLines += await readFile(source, (line) => side.add(line))
      }
    }
    return { before: sides[0], after: sides[1], skippedLines }
  }
  // One set: a side per version, ordered by when each version was first seen.
  const read = await readByVersion(before, maxSamples, seed)
  skippedLines += read.skippedLines
  const byVersion = read.versions
  const lines = read.lines
  let chosen: Array<Side>
  if (options.versions !== undefined) {
    chosen = options.versions.map((version) => {
      const entry = byVersion.get(version)
      if (entry === undefined) {
        throw new Error(
          `no request of version ${version} in ${before} (versions: ${[...byVersion.keys()].join(", ")})`,
        )
      }
      return entry.side
    })
  } else {
    const ordered = [...byVersion.values()].sort((a, b) => a.first - b.first)
    if (ordered.length < 2) {
      throw new Error(
        `${before} holds ${lines} requests of ${ordered.length} service.version value(s): ` +
          "give two paths (--compare <before> <after>) or logs of two versions",
      )
    }
    chosen = ordered.slice(-2).map((entry) => entry.side)
  }
  return { before: chosen[0]!, after: chosen[1]!, skippedLines }
}

/** Reads `path` into one side per `service.version` (`(none)` without one), each with when it was first seen. */
export const readByVersion = async (
  path: string,
  maxSamples: number,
  seed: number,
): Promise<{
  readonly versions: Map<string, { readonly side: Side; first: number }>
  readonly lines: number
  readonly skippedLines: number
}> => {
  const byVersion = new Map<string, { side: Side; first: number }>()
  let lines = 0
  let skippedLines = 0
  const sources = await sourcesOf(path)
  for (const source of sources) {
    skippedLines += await readFile(source, (line) => {
      lines++
      const version = line.service?.version === undefined ? "(none)" : String(line.service.version)
      let entry = byVersion.get(version)
      if (entry === undefined) {
        if (byVersion.size >= maxVersions) return
        entry = { side: new Side(`version ${version}`, maxSamples, seed + byVersion.size), first: Infinity }
        entry.side.sources.push(...sources)
        byVersion.set(version, entry)
      }
      const start = typeof line.startTime === "number" && line.startTime !== 0
        ? line.startTime
        : Date.parse(String(line.timestamp))
      if (start < entry.first) entry.first = start
      entry.side.add(line)
    })
  }
  return { versions: byVersion, lines, skippedLines }
}

/** Reads both sides and compares them. */
export const compareFiles = async (
  before: string,
  after: string | undefined,
  options: CompareOptions & { readonly versions?: readonly [string, string] | undefined } = {},
): Promise<Comparison> => {
  const sides = await readSides(before, after, options)
  return compareSides(sides.before, sides.after, options)
}
