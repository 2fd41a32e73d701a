/**
 * The performance report: reads the JSONL performance logs (`stagetrace.summary.v1` lines, as written by
 * `Exporter.jsonl`) and renders one self-contained HTML page — per-stage p50/p95/p99, p95 latency over
 * time per stage, stage waterfalls of the slowest requests, a bottleneck ranking, budget violations,
 * errors by category, and the attribute values over-represented among slow requests — plus a text
 * summary. `deno task report <dir-or-file>` does all of it from the command line.
 *
 * The page needs no network (charts are inline SVG, the script is inline, and a Content-Security-Policy
 * blocks every fetch). `generate` analyses lines as it reads them: memory holds a few numbers per request
 * and per stage execution (exact percentiles need every duration) and the slowest requests in full, never
 * the log itself.
 *
 * Guide: [Logs, redaction and the report](../../docs/logs-redaction-report.md#the-performance-report).
 *
 * @module
 */
import type { SummaryLine } from "../internal/jsonl.ts"
import { type Analysis, analyze as analyzeLines, type AnalyzeOptions, Analyzer } from "./internal/analyze.ts"
import { renderHtml } from "./internal/html.ts"
import { read as readPath, readFile, sourcesOf } from "./internal/read.ts"
import { renderText } from "./internal/text.ts"
import { compare as compareLines, type CompareOptions, type Comparison } from "./internal/compare.ts"
import { compareFiles, renderCompareHtml, renderCompareText } from "./internal/compareRender.ts"

export type {
  Analysis,
  AnalyzeOptions,
  BottleneckRow,
  BudgetRow,
  ErrorRow,
  SlowRequest,
  SlowValueRow,
  StageRow,
  Timeline,
  WaterfallBar,
} from "./internal/analyze.ts"
export type { SummaryLine } from "../internal/jsonl.ts"
export type {
  CompareOptions,
  Comparison,
  MannWhitney,
  QuantileShift,
  SideSummary,
  StageComparison,
  Verdict,
} from "./internal/compare.ts"

/**
 * Reads every summary line of a JSONL file, or of every `*.jsonl` file in a directory. Other lines are
 * skipped and counted.
 *
 * @example Reading a folder of logs
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Report, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * // A JSONL performance log, as Exporter.jsonl writes it.
 * const dir = await Deno.makeTempDir()
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("llm_request"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [Exporter.jsonl({ dir })] }))),
 * )
 *
 * const { sources, lines, skippedLines } = await Report.read(dir)
 * assert.equal(sources.length, 1)
 * assert.equal(lines[0]?.name, "chat")
 * assert.equal(skippedLines, 0)
 * await Deno.remove(dir, { recursive: true })
 * ```
 *
 * @category report
 * @since 0.1.0
 */
export const read = (
  path: string,
): Promise<
  {
    readonly sources: ReadonlyArray<string>
    readonly lines: ReadonlyArray<SummaryLine>
    readonly skippedLines: number
  }
> => readPath(path)

/**
 * Analyses summary lines: everything the report shows, as data.
 *
 * @example Analysing summaries
 * ```ts
 * import assert from "node:assert/strict"
 * import { Report } from "@stagetrace/stagetrace"
 *
 * const line = (id: string, durationMs: number): Report.SummaryLine => ({
 *   schema: "stagetrace.summary.v1", timestamp: new Date(0).toISOString(), service: { name: "chat" },
 *   requestId: id, name: "chat", traceId: "t", spanId: "s", startTime: 0, durationMs, success: true,
 *   status: "ok", stageCount: 1, bottlenecks: [], attributes: {}, truncated: false, overBudget: false,
 *   sampled: true, keptBecause: undefined,
 *   stages: [{ stageId: "llm", name: "llm", startOffsetMs: 0, durationMs, success: true, status: "ok", metadata: {}, substages: [] }],
 * })
 * const analysis = Report.analyze([line("a", 10), line("b", 30)])
 * assert.equal(analysis.stages[0]?.stageId, "llm")
 * assert.equal(analysis.stages[0]?.p50Ms, 10)
 * assert.equal(analysis.slowest[0]?.requestId, "b")
 * ```
 *
 * @category report
 * @since 0.1.0
 */
export const analyze = (lines: Iterable<SummaryLine>, options?: AnalyzeOptions): Analysis =>
  analyzeLines(lines, options)

/**
 * Renders an analysis as one self-contained HTML page.
 *
 * @example A self-contained page
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Report, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * // A JSONL performance log, as Exporter.jsonl writes it.
 * const dir = await Deno.makeTempDir()
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("llm_request"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [Exporter.jsonl({ dir })] }))),
 * )
 *
 * const analysis = Report.analyze((await Report.read(dir)).lines)
 * const html = Report.toHtml(analysis, "chat, last hour")
 * assert.match(html, /^<!doctype html>/i)
 * assert.match(html, /chat, last hour/)
 * await Deno.remove(dir, { recursive: true })
 * ```
 *
 * @category report
 * @since 0.1.0
 */
export const toHtml = (analysis: Analysis, title?: string): string => renderHtml(analysis, title)

/**
 * Renders an analysis as a short text summary.
 *
 * @example A text summary
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Report, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * // A JSONL performance log, as Exporter.jsonl writes it.
 * const dir = await Deno.makeTempDir()
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("llm_request"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [Exporter.jsonl({ dir })] }))),
 * )
 *
 * const text = Report.toText(Report.analyze((await Report.read(dir)).lines))
 * assert.match(text, /llm_request/)
 * await Deno.remove(dir, { recursive: true })
 * ```
 *
 * @category report
 * @since 0.1.0
 */
export const toText = (analysis: Analysis): string => renderText(analysis)

/**
 * Options of `Report.generate`.
 *
 * @category report
 * @since 0.1.0
 */
export interface GenerateOptions {
  /**
   * Where to write the HTML.
   * @default `<file without .jsonl>.html` for a file, `<dir>/report.html` for a directory
   */
  readonly out?: string | undefined
  /**
   * The page title.
   * @default "stagetrace performance report"
   */
  readonly title?: string | undefined
}

/** The default output path for a report of `path`. @internal */
export const defaultOut = async (path: string): Promise<string> => {
  const info = await Deno.stat(path)
  return info.isDirectory ? `${path.replace(/\/+$/, "")}/report.html` : `${path.replace(/\.jsonl$/, "")}.html`
}

/**
 * Reads `path` (a JSONL file or a directory of them), writes the HTML report and returns where it was
 * written, the analysis and the text summary.
 *
 * @example Writing the report of a folder
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Report, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * // A JSONL performance log, as Exporter.jsonl writes it.
 * const dir = await Deno.makeTempDir()
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("llm_request"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [Exporter.jsonl({ dir })] }))),
 * )
 *
 * const { out, analysis } = await Report.generate(dir)
 * assert.equal(out, `${dir}/report.html`)
 * assert.equal(analysis.stages[0]?.stageId, "llm_request")
 * await Deno.remove(dir, { recursive: true })
 * ```
 *
 * @category report
 * @since 0.1.0
 */
export const generate = async (
  path: string,
  options: GenerateOptions = {},
): Promise<{ readonly out: string; readonly analysis: Analysis; readonly text: string }> => {
  // Lines are analysed as they are read, never all held at once.
  const sources = await sourcesOf(path)
  const analyzer = new Analyzer()
  let skippedLines = 0
  for (const source of sources) skippedLines += await readFile(source, (line) => analyzer.add(line))
  const analysis = analyzer.result({ sources, skippedLines })
  const out = options.out ?? await defaultOut(path)
  await Deno.writeTextFile(out, renderHtml(analysis, options.title))
  return { out, analysis, text: renderText(analysis) }
}

// ---------------------------------------------------------------------------------------------------------
// Comparing deployments
// ---------------------------------------------------------------------------------------------------------

/**
 * Compares two sets of summary lines (two deployments): per stage and for whole requests (`(request)`),
 * a two-sided Mann-Whitney U test on the durations (Holm-adjusted over the stages), the p50/p95/p99 shifts
 * with 95% bootstrap confidence intervals, and a verdict; `slower` and `faster` name the stages that
 * changed. See `docs/dashboard.md` for the statistics.
 *
 * @example Finding the stage that got slower
 * ```ts
 * import assert from "node:assert/strict"
 * import { Report } from "@stagetrace/stagetrace"
 *
 * const line = (id: string, kbMs: number, llmMs: number): Report.SummaryLine => ({
 *   schema: "stagetrace.summary.v1", timestamp: new Date(0).toISOString(), service: { name: "chat" },
 *   requestId: id, name: "chat", traceId: "t", spanId: "s", startTime: 0, durationMs: kbMs + llmMs,
 *   success: true, status: "ok", stageCount: 2, bottlenecks: [], attributes: {}, truncated: false,
 *   overBudget: false, sampled: true, keptBecause: undefined,
 *   stages: [
 *     { stageId: "kb", name: "kb", startOffsetMs: 0, durationMs: kbMs, success: true, status: "ok", metadata: {}, substages: [] },
 *     { stageId: "llm", name: "llm", startOffsetMs: kbMs, durationMs: llmMs, success: true, status: "ok", metadata: {}, substages: [] },
 *   ],
 * })
 * const before = Array.from({ length: 200 }, (_, i) => line(`b${i}`, 10 + (i % 7), 100 + (i % 13)))
 * const after = Array.from({ length: 200 }, (_, i) => line(`a${i}`, 15 + (i % 7), 100 + (i % 13)))
 * const comparison = Report.compare(before, after)
 * assert.deepEqual(comparison.slower, ["kb"])
 * assert.deepEqual(comparison.faster, [])
 * ```
 *
 * @category report
 * @since 0.2.0
 */
export const compare = (
  before: Iterable<SummaryLine>,
  after: Iterable<SummaryLine>,
  options?: CompareOptions,
): Comparison => compareLines(before, after, options)

/**
 * Renders a comparison as a short text report (one line per stage, then the slower and faster stages).
 *
 * @category report
 * @since 0.2.0
 */
export const compareToText = (comparison: Comparison): string => renderCompareText(comparison)

/**
 * Renders a comparison as one self-contained HTML page (a table and a forest plot of the p95 shifts).
 *
 * @category report
 * @since 0.2.0
 */
export const compareToHtml = (comparison: Comparison, title?: string): string =>
  renderCompareHtml(comparison, title)

/**
 * Options of `Report.generateComparison`.
 *
 * @category report
 * @since 0.2.0
 */
export interface GenerateComparisonOptions extends CompareOptions {
  /**
   * Where to write the HTML.
   * @default `<after dir>/compare.html`, or `<after file without .jsonl>.compare.html`
   */
  readonly out?: string | undefined
  /**
   * The page title.
   * @default "stagetrace comparison"
   */
  readonly title?: string | undefined
  /**
   * With a single path: the two `service.version` values to compare, before first.
   * @default the two versions seen last (ordered by their first request)
   */
  readonly versions?: readonly [string, string] | undefined
}

/**
 * Reads two JSONL paths (files or directories), or one path split by `service.version` (`after`
 * undefined), compares them, writes the HTML and returns where, the comparison and its text report.
 *
 * @category report
 * @since 0.2.0
 */
export const generateComparison = async (
  before: string,
  after: string | undefined,
  options: GenerateComparisonOptions = {},
): Promise<{ readonly out: string; readonly comparison: Comparison; readonly text: string }> => {
  const comparison = await compareFiles(before, after, options)
  const base = after ?? before
  const out = options.out ??
    ((await Deno.stat(base)).isDirectory
      ? `${base.replace(/\/+$/, "")}/compare.html`
      : `${base.replace(/\.jsonl$/, "")}.compare.html`)
  await Deno.writeTextFile(out, renderCompareHtml(comparison, options.title))
  return { out, comparison, text: renderCompareText(comparison) }
}
