/**
 * The analysis behind the report: one pass over the summary lines keeps compact per-request records
 * (duration, outcome, flattened stages, attribute values) and the slowest requests in full; everything
 * else is computed from those. Quantiles are exact (nearest rank over the sorted values).
 *
 * @internal
 */
import type { SummaryLine } from "../../internal/jsonl.ts"
import type { StageExecution } from "../../stage/Stage.ts"

/** Per-stage latency. */
export interface StageRow {
  readonly stageId: string
  readonly count: number
  readonly errors: number
  readonly meanMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly totalMs: number
  /** This stage's total time divided by the total time of all requests (sub-stages overlap parents). */
  readonly shareOfTime: number
}

/** One bar of a waterfall. */
export interface WaterfallBar {
  readonly stageId: string
  readonly depth: number
  readonly startOffsetMs: number
  readonly durationMs: number
  readonly status: string
  readonly overBudget: boolean
}

/** One of the slowest requests. */
export interface SlowRequest {
  readonly requestId: string
  readonly name: string
  readonly timestamp: string
  readonly durationMs: number
  readonly status: string
  readonly bars: ReadonlyArray<WaterfallBar>
}

/** How often a stage was a bottleneck. */
export interface BottleneckRow {
  readonly stageId: string
  /** Requests in which the stage was a bottleneck. */
  readonly requests: number
  /** `requests` divided by all requests. */
  readonly shareOfRequests: number
  /** Mean share of the request's time, over the requests where it was a bottleneck. */
  readonly meanShare: number
}

/** Budget violations of one stage (or of whole requests, stage id `(request)`). */
export interface BudgetRow {
  readonly stageId: string
  readonly violations: number
  readonly budgetMs: number | undefined
  readonly meanOverMs: number
  readonly maxOverMs: number
}

/** Failures of one category. */
export interface ErrorRow {
  readonly category: string
  readonly failedRequests: number
  readonly failedStages: number
  /** The most frequent error types, `type (count)`. */
  readonly topTypes: ReadonlyArray<string>
}

/** An attribute value over-represented among slow requests. */
export interface SlowValueRow {
  readonly key: string
  readonly value: string
  readonly slowCount: number
  readonly slowShare: number
  readonly normalShare: number
  /** `slowShare / normalShare`, smoothed. */
  readonly lift: number
}

/** Latency over time. */
export interface Timeline {
  /** Start (epoch ms) of each bucket. */
  readonly buckets: ReadonlyArray<number>
  readonly bucketMs: number
  /** p95 per bucket (null when the stage did not run in it), for the busiest stages and the whole request. */
  readonly series: ReadonlyArray<{ readonly stageId: string; readonly p95: ReadonlyArray<number | null> }>
}

/** Everything the report shows. */
export interface Analysis {
  readonly sources: ReadonlyArray<string>
  readonly requests: number
  readonly skippedLines: number
  readonly services: ReadonlyArray<string>
  readonly from: number | undefined
  readonly to: number | undefined
  readonly overall: {
    readonly successRate: number
    readonly meanMs: number
    readonly p50Ms: number
    readonly p95Ms: number
    readonly p99Ms: number
    readonly maxMs: number
  }
  readonly stages: ReadonlyArray<StageRow>
  readonly timeline: Timeline
  readonly slowest: ReadonlyArray<SlowRequest>
  readonly bottlenecks: ReadonlyArray<BottleneckRow>
  readonly overBudgetRequests: number
  readonly budgets: ReadonlyArray<BudgetRow>
  readonly failedRequests: number
  readonly errors: ReadonlyArray<ErrorRow>
  readonly slowThresholdMs: number
  readonly slowValues: ReadonlyArray<SlowValueRow>
}

/** Options of `analyze`. */
export interface AnalyzeOptions {
  readonly sources?: ReadonlyArray<string> | undefined
  readonly skippedLines?: number | undefined
  /** Waterfalls drawn. @default 6 */
  readonly slowest?: number | undefined
  /** Stages drawn in the latency chart. @default 8 */
  readonly timelineStages?: number | undefined
  /** Buckets of the latency chart. @default 48 */
  readonly buckets?: number | undefined
}

/** What is kept of each request: its start, its duration and the ids of its attribute values. */
interface Compact {
  /** Epoch milliseconds; `NaN` when the line had no usable time. */
  readonly start: number
  readonly durationMs: number
  /** Ids (in `Values`) of the request's distinct `key=value` pairs, in order of first appearance. */
  readonly values: ReadonlyArray<number>
}

/** Nearest-rank quantile of sorted values. */
export const quantileOf = (sorted: ArrayLike<number>, q: number): number => {
  if (sorted.length === 0) return 0
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

const sortNumbers = (values: Array<number>): Float64Array => Float64Array.from(values).sort()

const finite = (value: unknown): number => typeof value === "number" && Number.isFinite(value) ? value : 0

/** The largest distance from the epoch a `Date` can hold, in milliseconds. */
const maxTime = 8.64e15

/** Whether `value` is a time a `Date` can hold (rendering any other one throws). */
const isTime = (value: unknown): value is number =>
  typeof value === "number" && value >= -maxTime && value <= maxTime

/** When a line's request started: its `startTime`, else its `timestamp`; `undefined` when neither is a time. */
const startOf = (line: SummaryLine): number | undefined => {
  if (isTime(line.startTime) && line.startTime !== 0) return line.startTime
  const parsed = Date.parse(String(line.timestamp))
  return isTime(parsed) ? parsed : isTime(line.startTime) ? line.startTime : undefined
}

/** Attribute values with at most this many distinct values per key are compared (ids are not). */
const maxDistinctValues = 40

/** Distinct attribute and metadata keys considered; later keys are ignored (keys are normally static). */
const maxKeys = 10_000

/**
 * Interned `key=value` pairs, so each request keeps small ids instead of strings. A key with more than
 * `maxDistinctValues` values is high-cardinality (an id, a timestamp): it is left out of the comparison, so
 * its values past the limit are not interned at all (memory stays bounded by keys × values).
 */
class Values {
  readonly ids: Map<string, number> = new Map()
  readonly pairs: Array<string> = []
  /** The key state of each id. */
  readonly keyOf: Array<{ count: number; high: boolean }> = []
  private readonly keys = new Map<string, { count: number; high: boolean }>()

  /** The id of `key=text`, or `undefined` when it is not compared. */
  id(key: string, text: string): number | undefined {
    const pair = `${key}=${text}`
    const known = this.ids.get(pair)
    if (known !== undefined) return known
    let state = this.keys.get(key)
    if (state === undefined) {
      if (this.keys.size >= maxKeys) return undefined
      this.keys.set(key, state = { count: 0, high: false })
    }
    if (state.high) return undefined
    if (state.count >= maxDistinctValues) {
      state.high = true
      return undefined
    }
    state.count++
    const id = this.pairs.length
    this.pairs.push(pair)
    this.keyOf.push(state)
    this.ids.set(pair, id)
    return id
  }

  /** Whether `id`'s key has few enough distinct values to be compared. */
  compared(id: number): boolean {
    return !this.keyOf[id]!.high
  }
}

const flatten = (
  stages: ReadonlyArray<StageExecution>,
  depth: number,
  out: Array<WaterfallBar>,
): Array<WaterfallBar> => {
  for (const stage of stages) {
    out.push({
      stageId: String(stage.stageId),
      depth,
      startOffsetMs: finite(stage.startOffsetMs),
      durationMs: finite(stage.durationMs),
      status: String(stage.status ?? (stage.success ? "ok" : "error")),
      overBudget: stage.overBudget === true,
    })
    if (Array.isArray(stage.substages) && stage.substages.length > 0 && depth < 16) {
      flatten(stage.substages, depth + 1, out)
    }
  }
  return out
}

const valueText = (value: unknown): string | undefined =>
  typeof value === "string"
    ? value.length <= 80 ? value : undefined
    : typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : undefined

/** Per-stage accumulators: every execution's duration and its request's start (for the timeline). */
interface StageAcc {
  readonly durations: Array<number>
  readonly starts: Array<number>
  errors: number
  total: number
}

/**
 * The analysis, one line at a time: `add` each summary line (already filtered with `isSummaryLine`), then
 * `result`. Lines are not kept (but for the slowest few), so a log can be analysed while it is read.
 */
export class Analyzer {
  private readonly options: AnalyzeOptions
  private readonly slowestCount: number
  private readonly compact: Array<Compact> = []
  private readonly slowest: Array<SummaryLine> = []
  private readonly durations: Array<number> = []
  private readonly services = new Set<string>()
  private readonly byStage = new Map<string, StageAcc>()
  private readonly bottlenecks = new Map<string, { requests: number; shareSum: number }>()
  private readonly budgets = new Map<
    string,
    { violations: number; budgetMs: number | undefined; overCount: number; overSum: number; overMax: number }
  >()
  private readonly errors = new Map<
    string,
    { requests: number; stages: number; types: Map<string, number> }
  >()
  private readonly values = new Values()
  private ok = 0
  private overBudgetRequests = 0
  private failedRequests = 0
  private from: number | undefined = undefined
  private to: number | undefined = undefined

  constructor(options: AnalyzeOptions = {}) {
    this.options = options
    this.slowestCount = options.slowest ?? 6
  }

  private countError(category: string | undefined, type: string, isRequest: boolean): void {
    const key = category ?? "uncategorized"
    let row = this.errors.get(key)
    if (row === undefined) this.errors.set(key, row = { requests: 0, stages: 0, types: new Map() })
    if (isRequest) row.requests++
    else row.stages++
    row.types.set(type, (row.types.get(type) ?? 0) + 1)
  }

  private countBudget(stageId: string, durationMs: number, budgetMs: number | undefined): void {
    let row = this.budgets.get(stageId)
    if (row === undefined) {
      this.budgets.set(stageId, row = { violations: 0, budgetMs, overCount: 0, overSum: 0, overMax: 0 })
    }
    row.violations++
    if (budgetMs !== undefined) {
      const over = Math.max(0, durationMs - budgetMs)
      row.overCount++
      row.overSum += over
      row.overMax = Math.max(row.overMax, over)
    }
  }

  /** Adds one summary line. */
  add(line: SummaryLine): void {
    const durationMs = finite(line.durationMs)
    const start = startOf(line)
    const startOrNaN = start ?? Number.NaN
    this.durations.push(durationMs)
    if (line.service?.name !== undefined) this.services.add(String(line.service.name))
    if (start !== undefined) {
      const end = Math.min(maxTime, start + Math.max(0, durationMs))
      this.from = this.from === undefined ? start : Math.min(this.from, start)
      this.to = this.to === undefined ? end : Math.max(this.to, end)
    }
    if (line.success) this.ok++
    else {
      this.failedRequests++
      if (line.error !== undefined) this.countError(line.error.category, String(line.error.type), true)
      else this.countError(undefined, String(line.status), true)
    }
    if (line.overBudget) {
      this.overBudgetRequests++
      this.countBudget("(request)", durationMs, line.budgetMs)
    }
    for (const b of Array.isArray(line.bottlenecks) ? line.bottlenecks : []) {
      let row = this.bottlenecks.get(b.stageId)
      if (row === undefined) this.bottlenecks.set(b.stageId, row = { requests: 0, shareSum: 0 })
      row.requests++
      row.shareSum += finite(b.share)
    }

    const ids: Array<number> = []
    const value = (key: string, text: string) => {
      const id = this.values.id(key, text)
      if (id !== undefined && !ids.includes(id)) ids.push(id)
    }
    value("name", String(line.name))
    const visit = (stages: ReadonlyArray<StageExecution>) => {
      for (const stage of stages) {
        const d = finite(stage.durationMs)
        let row = this.byStage.get(stage.stageId)
        if (row === undefined) {
          this.byStage.set(stage.stageId, row = { durations: [], starts: [], errors: 0, total: 0 })
        }
        row.durations.push(d)
        row.starts.push(startOrNaN)
        row.total += d
        if (stage.success === false && stage.status !== "running") {
          row.errors++
          // Count an error once, in the stage where it happened, not again in every stage it went through.
          const origin = !Array.isArray(stage.substages) ||
            stage.substages.every((sub) => sub.success !== false)
          if (stage.error !== undefined && origin) {
            this.countError(stage.error.category, String(stage.error.type), false)
          }
        }
        if (stage.overBudget === true) this.countBudget(stage.stageId, d, stage.budgetMs)
        for (const [key, v] of Object.entries(stage.metadata ?? {})) {
          const text = valueText(v)
          if (text !== undefined) value(`${stage.stageId}.${key}`, text)
        }
        if (Array.isArray(stage.substages)) visit(stage.substages)
      }
    }
    visit(line.stages)
    for (const [key, v] of Object.entries(line.attributes ?? {})) {
      const text = valueText(v)
      if (text !== undefined) value(key, text)
    }
    this.compact.push({ start: startOrNaN, durationMs, values: ids })

    // Keep the slowest requests in full (a small sorted array).
    const slowest = this.slowest
    if (
      slowest.length < this.slowestCount || durationMs > finite(slowest[slowest.length - 1]!.durationMs)
    ) {
      slowest.push(line)
      slowest.sort((a, b) => finite(b.durationMs) - finite(a.durationMs))
      if (slowest.length > this.slowestCount) slowest.pop()
    }
  }

  /** The analysis of every line added; `sources` and `skippedLines` override the constructor's. */
  result(
    read: { readonly sources?: ReadonlyArray<string>; readonly skippedLines?: number } = {},
  ): Analysis {
    const options = this.options
    const { compact, durations, byStage, from, to, values } = this
    const requests = compact.length
    const sorted = sortNumbers(durations)
    let totalTime = 0
    for (const d of durations) totalTime += d

    const stages: Array<StageRow> = [...byStage].map(([stageId, row]) => {
      const s = sortNumbers(row.durations)
      return {
        stageId,
        count: s.length,
        errors: row.errors,
        meanMs: row.total / s.length,
        p50Ms: quantileOf(s, 0.5),
        p95Ms: quantileOf(s, 0.95),
        p99Ms: quantileOf(s, 0.99),
        maxMs: s[s.length - 1] ?? 0,
        totalMs: row.total,
        shareOfTime: totalTime > 0 ? row.total / totalTime : 0,
      }
    }).sort((a, b) => b.totalMs - a.totalMs)

    // Latency over time: p95 per bucket for the stages with the most total time, and the whole request.
    const bucketCount = Math.max(1, options.buckets ?? 48)
    const span = from === undefined || to === undefined ? 0 : Math.max(1, to - from)
    const bucketMs = Math.max(1, Math.ceil(span / bucketCount))
    const bucketOf = (start: number) =>
      Math.min(bucketCount - 1, Math.floor((start - (from ?? 0)) / bucketMs))
    const chosen = stages.slice(0, options.timelineStages ?? 8).map((s) => s.stageId)
    const perBucket = new Map<string, Array<Array<number>>>()
    const requestBuckets: Array<Array<number>> = Array.from({ length: bucketCount }, () => [])
    perBucket.set("(request)", requestBuckets)
    for (const r of compact) {
      if (r.start !== r.start) continue // no usable start time: not on the time axis
      requestBuckets[bucketOf(r.start)]!.push(r.durationMs)
    }
    for (const id of chosen) {
      const buckets: Array<Array<number>> = Array.from({ length: bucketCount }, () => [])
      const row = byStage.get(id)!
      for (let i = 0; i < row.starts.length; i++) {
        const start = row.starts[i]!
        if (start === start) buckets[bucketOf(start)]!.push(row.durations[i]!)
      }
      perBucket.set(id, buckets)
    }
    const timeline: Timeline = {
      bucketMs,
      buckets: Array.from({ length: bucketCount }, (_, i) => (from ?? 0) + i * bucketMs),
      series: [...perBucket].map(([stageId, buckets]) => ({
        stageId,
        p95: buckets.map((list) => list.length === 0 ? null : quantileOf(sortNumbers(list), 0.95)),
      })),
    }

    // Slow versus normal: which attribute values are over-represented among the slowest 10% (the requests
    // at least as slow as the 90th percentile). When that is every request (the fastest ones tie with the
    // 90th percentile), the slow ones are those strictly slower; when none is, nothing is compared: a
    // comparison with an empty group would find every common value "over-represented".
    let slowThresholdMs = quantileOf(sorted, 0.9)
    let compare = requests >= 10
    if (compare && sorted[0]! >= slowThresholdMs) {
      const above = sorted.findIndex((d) => d > slowThresholdMs)
      if (above < 0) compare = false
      else slowThresholdMs = sorted[above]!
    }
    const slowCounts = new Map<number, number>()
    const normalCounts = new Map<number, number>()
    let slowTotal = 0
    let normalTotal = 0
    for (const r of compact) {
      const slow = compare && r.durationMs >= slowThresholdMs
      if (slow) slowTotal++
      else normalTotal++
      const target = slow ? slowCounts : normalCounts
      for (const id of r.values) {
        if (values.compared(id)) target.set(id, (target.get(id) ?? 0) + 1)
      }
    }
    const minSupport = Math.max(3, Math.ceil(slowTotal * 0.05))
    const slowValues: Array<SlowValueRow> = []
    for (const [id, slowCount] of slowCounts) {
      if (slowCount < minSupport) continue
      const normalCount = normalCounts.get(id) ?? 0
      const slowShare = slowCount / slowTotal
      const normalShare = normalTotal === 0 ? 0 : normalCount / normalTotal
      const lift = ((slowCount + 1) / (slowTotal + 2)) / ((normalCount + 1) / (normalTotal + 2))
      if (lift < 1.2) continue
      const pair = values.pairs[id]!
      const eq = pair.indexOf("=")
      slowValues.push({
        key: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        slowCount,
        slowShare,
        normalShare,
        lift,
      })
    }
    slowValues.sort((a, b) => b.lift - a.lift || b.slowCount - a.slowCount)

    let sum = 0
    for (const d of durations) sum += d
    const { bottlenecks, budgets, errors, failedRequests, ok, overBudgetRequests } = this
    return {
      sources: read.sources ?? options.sources ?? [],
      requests,
      skippedLines: read.skippedLines ?? options.skippedLines ?? 0,
      services: [...this.services].sort(),
      from,
      to,
      overall: {
        successRate: requests === 0 ? 1 : ok / requests,
        meanMs: requests === 0 ? 0 : sum / requests,
        p50Ms: quantileOf(sorted, 0.5),
        p95Ms: quantileOf(sorted, 0.95),
        p99Ms: quantileOf(sorted, 0.99),
        maxMs: sorted[sorted.length - 1] ?? 0,
      },
      stages,
      timeline,
      slowest: this.slowest.map((line) => ({
        requestId: String(line.requestId),
        name: String(line.name),
        timestamp: String(line.timestamp),
        durationMs: finite(line.durationMs),
        status: String(line.status),
        bars: flatten(line.stages, 0, []),
      })),
      bottlenecks: [...bottlenecks].map(([stageId, row]) => ({
        stageId,
        requests: row.requests,
        shareOfRequests: requests === 0 ? 0 : row.requests / requests,
        meanShare: row.shareSum / row.requests,
      })).sort((a, b) => b.requests - a.requests || b.meanShare - a.meanShare),
      overBudgetRequests,
      budgets: [...budgets].map(([stageId, row]) => ({
        stageId,
        violations: row.violations,
        budgetMs: row.budgetMs,
        meanOverMs: row.overCount === 0 ? 0 : row.overSum / row.overCount,
        maxOverMs: row.overMax,
      })).sort((a, b) => b.violations - a.violations),
      failedRequests,
      errors: [...errors].map(([category, row]) => ({
        category,
        failedRequests: row.requests,
        failedStages: row.stages,
        topTypes: [...row.types].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([type, n]) => `${type} (${n})`),
      })).sort((a, b) => b.failedRequests + b.failedStages - (a.failedRequests + a.failedStages)),
      slowThresholdMs,
      slowValues: slowValues.slice(0, 15),
    }
  }
}

/** Analyses summary lines (already filtered with `isSummaryLine`). */
export const analyze = (lines: Iterable<SummaryLine>, options: AnalyzeOptions = {}): Analysis => {
  const analyzer = new Analyzer(options)
  for (const line of lines) analyzer.add(line)
  return analyzer.result()
}
