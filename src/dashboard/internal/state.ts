/**
 * The dashboard's live state: what it aggregates on the recorder's hooks, and the payloads it builds for
 * the page.
 *
 * On the hot path (the `summary` hook, once per request) it only counts: the request goes into the time
 * bucket of its end (requests, failures, over-budget, a request-duration sketch, the stages that were its
 * bottlenecks, and the bucket's few slowest requests), and a failed request into a small ring. Stage
 * quantiles per bucket cost nothing per stage: they are read from the `StageStats` sketches through a
 * `StatsWindow` when a bucket closes. Everything is bounded: `buckets` buckets, `tableSize` requests per
 * list, bottleneck entries per bucket by the stage-id bound.
 *
 * Payloads (JSON) are built only on the ticker fiber, when a page is open: a full one (`init`) when a page
 * connects, then once per interval a small one (`tick`) with the two newest buckets and the panels.
 *
 * @internal
 */
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js"
import { BudgetsSlot, summaryAt as budgetSummaryAt } from "../../budget/internal/state.ts"
import { ErrorsSlot, summaryAt as errorSummaryAt } from "../../errors/internal/state.ts"
import type { HealthReport } from "../../health/Health.ts"
import { computeReport } from "../../health/internal/health.ts"
import type { SystemSource } from "../../health/internal/system.ts"
import type { Recorder } from "../../internal/recorder.ts"
import { ExportStatsSlot } from "../../internal/slots.ts"
import type { RequestSummary } from "../../stage/Request.ts"
import { binLimit, relativeAccuracy } from "../../internal/stageStats.ts"
import { StatsWindow, type WindowStats } from "../../internal/statsWindow.ts"
import { compareSides, Side } from "../../report/internal/compare.ts"
import { readByVersion } from "../../report/internal/compareRender.ts"
import type { DashboardConfig } from "./options.ts"
import type { LogCapture } from "./logs.ts"
import type { SseHub } from "./sse.ts"

/** Slowest requests kept per bucket. */
const slowestPerBucket = 10

/** Stages whose series the page gets (the ones with the most total time). */
const chartStages = 24

/** Rounds a duration for the payload (microsecond resolution is plenty). */
const r = (ms: number): number => Math.round(ms * 1000) / 1000

type Sketch = LogCollapsingLowestDenseDDSketch

const newSketch = (): Sketch => new LogCollapsingLowestDenseDDSketch({ relativeAccuracy, binLimit })

/** One time bucket. */
class Bucket {
  /** Bucket number (`floor(time / bucketMs)`); `-Infinity` when unused. */
  n = Number.NEGATIVE_INFINITY
  requests = 0
  failed = 0
  overBudget = 0
  inFlight = 0
  durations: Sketch | undefined
  stages: ReadonlyArray<WindowStats> | undefined
  bottlenecks: Map<string, { requests: number; shareSum: number }> | undefined
  readonly slowest: Array<RequestSummary> = []

  reset(n: number): void {
    this.n = n
    this.requests = 0
    this.failed = 0
    this.overBudget = 0
    this.inFlight = 0
    this.durations = undefined
    this.stages = undefined
    this.bottlenecks = undefined
    this.slowest.length = 0
  }
}

/** A request as a row of the request tables. */
export interface Row {
  readonly id: string
  readonly name: string
  readonly start: number
  readonly ms: number
  readonly status: string
  readonly overBudget: boolean
  readonly stages: number
  readonly traceId: string
  readonly error?: { readonly type: string; readonly category?: string | undefined } | undefined
}

export const rowOf = (s: RequestSummary): Row => ({
  id: s.requestId,
  name: s.name,
  start: s.startTime,
  ms: r(s.durationMs),
  status: s.status,
  overBudget: s.overBudget,
  stages: s.stageCount,
  traceId: s.traceId,
  ...(s.error !== undefined ? { error: { type: s.error.type, category: s.error.category } } : {}),
})

const quantile = (sketch: Sketch | undefined, q: number): number | null => {
  if (sketch === undefined || sketch.count === 0) return null
  return r(Math.min(sketch.max, Math.max(sketch.min, sketch.getValueAtQuantile(q))))
}

const stageCell = (s: WindowStats): Array<number> => [
  r(s.p50Ms),
  r(s.p95Ms),
  r(s.p99Ms),
  s.count,
  s.count - s.successes,
]

/** The live state of one dashboard. */
export class DashboardState {
  readonly config: DashboardConfig
  readonly recorder: Recorder
  readonly hub: SseHub
  readonly logs: LogCapture
  private readonly buckets: Array<Bucket>
  private readonly window: StatsWindow
  /** The bucket the stage window started in. */
  private windowBucket: number
  /** The newest bucket number seen. */
  private newest: number
  private readonly failed: Array<RequestSummary> = []
  private failedNext = 0
  private readonly system: SystemSource
  private health: HealthReport | undefined
  private healthAt = -Infinity
  /** Ticks run, payload bytes sent. */
  ticks = 0
  bytesSent = 0
  readonly startedAt: number

  constructor(
    config: DashboardConfig,
    recorder: Recorder,
    hub: SseHub,
    logs: LogCapture,
    system: SystemSource,
    nowMs: number,
  ) {
    this.config = config
    this.recorder = recorder
    this.hub = hub
    this.logs = logs
    this.system = system
    this.buckets = Array.from({ length: config.buckets }, () => new Bucket())
    this.window = new StatsWindow(recorder.stats)
    this.windowBucket = this.newest = Math.floor(nowMs / config.bucketMs)
    this.startedAt = nowMs
  }

  /** The bucket numbered `n`, emptied when its slot held an older one; `undefined` when `n` is too old. */
  private bucket(n: number): Bucket | undefined {
    if (n <= this.newest - this.config.buckets) return undefined
    const slot = this.buckets[((n % this.config.buckets) + this.config.buckets) % this.config.buckets]!
    if (slot.n !== n) {
      if (slot.n > n) return undefined
      slot.reset(n)
    }
    if (n > this.newest) this.newest = n
    return slot
  }

  /** The `summary` hook: counts a finished request (synchronous, bounded). */
  readonly onSummary = (summary: RequestSummary): void => {
    const end = summary.startTime + summary.durationMs
    const bucket = this.bucket(Math.floor(end / this.config.bucketMs))
    if (bucket === undefined) return
    bucket.requests++
    const ms = summary.durationMs
    if (ms >= 0 && ms !== Infinity) (bucket.durations ??= newSketch()).accept(ms)
    if (summary.overBudget) bucket.overBudget++
    if (!summary.success) {
      bucket.failed++
      const size = this.config.tableSize
      this.failed[this.failedNext] = summary
      this.failedNext = (this.failedNext + 1) % size
    }
    const bottlenecks = summary.bottlenecks
    if (bottlenecks.length > 0) {
      const map = bucket.bottlenecks ??= new Map()
      for (let i = 0; i < bottlenecks.length; i++) {
        const b = bottlenecks[i]!
        let entry = map.get(b.stageId)
        if (entry === undefined) {
          if (map.size > this.recorder.config.maxStageIds) continue
          map.set(b.stageId, entry = { requests: 0, shareSum: 0 })
        }
        entry.requests++
        entry.shareSum += b.share
      }
    }
    const slowest = bucket.slowest
    if (slowest.length < slowestPerBucket || ms > slowest[slowest.length - 1]!.durationMs) {
      let i = slowest.length
      while (i > 0 && slowest[i - 1]!.durationMs < ms) i--
      slowest.splice(i, 0, summary)
      if (slowest.length > slowestPerBucket) slowest.pop()
    }
  }

  /**
   * Runs on the ticker: closes the stage window when a bucket ended (its quantiles go to that bucket) and
   * samples the requests in flight.
   */
  advance(nowMs: number): void {
    const n = Math.floor(nowMs / this.config.bucketMs)
    const current = this.bucket(n)
    if (current !== undefined) current.inFlight = Math.max(current.inFlight, this.recorder.inFlight)
    if (n > this.windowBucket) {
      const stages = this.window.roll()
      const closed = this.bucket(this.windowBucket)
      if (closed !== undefined) closed.stages = stages
      this.windowBucket = n
    }
  }

  /** The buckets in the history window ending at `nowMs`, oldest first (unused ones left out). */
  private history(nowMs: number): Array<Bucket> {
    const n = Math.floor(nowMs / this.config.bucketMs)
    const out: Array<Bucket> = []
    for (let k = n - this.config.buckets + 1; k <= n; k++) {
      const slot = this.buckets[((k % this.config.buckets) + this.config.buckets) % this.config.buckets]!
      if (slot.n === k) out.push(slot)
    }
    return out
  }

  /** The stage statistics of `bucket` (the open one read from the sketches now). */
  private stagesOf(bucket: Bucket): ReadonlyArray<WindowStats> {
    if (bucket.n === this.windowBucket) return this.window.peek()
    return bucket.stages ?? []
  }

  private bucketRow(bucket: Bucket): Record<string, unknown> {
    const stages: Record<string, Array<number>> = {}
    for (const s of this.stagesOf(bucket)) stages[s.stageId] = stageCell(s)
    return {
      t: bucket.n * this.config.bucketMs,
      requests: bucket.requests,
      failed: bucket.failed,
      overBudget: bucket.overBudget,
      inFlight: bucket.inFlight,
      p50: quantile(bucket.durations, 0.5),
      p95: quantile(bucket.durations, 0.95),
      p99: quantile(bucket.durations, 0.99),
      stages,
    }
  }

  private healthAtTime(nowMs: number): HealthReport | undefined {
    if (nowMs - this.healthAt >= this.config.bucketMs || this.health === undefined) {
      try {
        this.health = computeReport(this.recorder, nowMs, this.system)
      } catch {
        this.health = undefined
      }
      this.healthAt = nowMs
    }
    return this.health
  }

  /** The panels shown beside the charts (the same in `init` and `tick`). */
  private panels(nowMs: number): Record<string, unknown> {
    const recorder = this.recorder
    const windowMs = this.config.buckets * this.config.bucketMs
    const history = this.history(nowMs)

    const slowest: Array<RequestSummary> = []
    for (const bucket of history) slowest.push(...bucket.slowest)
    slowest.sort((a, b) => b.durationMs - a.durationMs)
    const failed = this.failedRows()

    const bottlenecks = new Map<string, { requests: number; shareSum: number }>()
    let requests = 0
    for (const bucket of history) {
      requests += bucket.requests
      if (bucket.bottlenecks === undefined) continue
      for (const [stageId, entry] of bucket.bottlenecks) {
        const total = bottlenecks.get(stageId)
        if (total === undefined) bottlenecks.set(stageId, { ...entry })
        else {
          total.requests += entry.requests
          total.shareSum += entry.shareSum
        }
      }
    }

    const stageTable = [...recorder.stats.entries.values()].map((entry) => {
      const count = entry.sketch.count
      return {
        stageId: entry.stageId,
        count,
        errors: count - entry.successes,
        meanMs: r(count === 0 ? 0 : entry.sketch.sum / count),
        p50: r(entry.quantile(0.5)),
        p95: r(entry.quantile(0.95)),
        p99: r(entry.quantile(0.99)),
        maxMs: r(count === 0 ? 0 : entry.sketch.max),
      }
    }).sort((a, b) => b.meanMs * b.count - a.meanMs * a.count).slice(0, 200)

    const budgetsState = recorder.get(BudgetsSlot)
    const budgetTable: Record<string, number> = {}
    if (budgetsState !== undefined) { for (const [id, ms] of budgetsState.table) budgetTable[id] = ms }
    const errorsState = recorder.get(ErrorsSlot)
    const alertState = errorsState?.alerts

    let exporter: unknown = undefined
    const exportStats = recorder.get(ExportStatsSlot)
    if (exportStats !== undefined) {
      try {
        exporter = exportStats()
      } catch {
        exporter = undefined
      }
    }
    const health = this.healthAtTime(nowMs)

    return {
      now: nowMs,
      inFlight: recorder.inFlight,
      totalRequests: recorder.summaries.total,
      requests: {
        newest: recorder.summaries.recent(this.config.tableSize).map(rowOf),
        slowest: slowest.slice(0, this.config.tableSize).map(rowOf),
        failed,
      },
      stageTable,
      budgetTable,
      bottlenecks: [...bottlenecks].map(([stageId, b]) => ({
        stageId,
        requests: b.requests,
        shareOfRequests: requests === 0 ? 0 : b.requests / requests,
        meanShare: b.shareSum / b.requests,
      })).sort((a, b) => b.requests - a.requests || b.meanShare - a.meanShare).slice(0, 20),
      budgets: budgetsState === undefined ? null : budgetSummaryAt(budgetsState, windowMs, nowMs),
      errors: errorsState === undefined ? null : errorSummaryAt(errorsState, windowMs, nowMs),
      alerts: alertState === undefined ? null : alertState.recent.slice(-20).reverse(),
      anomalyDetection: alertState?.anomalies === undefined ? null : {
        windowMs: alertState.anomalies.config.windowMs,
        baselineWindows: alertState.anomalies.config.baselineWindows,
        madMultiplier: alertState.anomalies.config.madMultiplier,
      },
      exporter: exporter ?? null,
      health: health === undefined ? null : { status: health.status, checks: health.checks },
      dashboard: {
        connections: this.hub.size,
        droppedClients: this.hub.dropped,
        capturedLogs: this.logs.total,
      },
    }
  }

  private failedRows(): Array<Row> {
    const out: Array<Row> = []
    const size = this.config.tableSize
    for (let k = 1; k <= size; k++) {
      const s = this.failed[(this.failedNext - k + size) % size]
      if (s !== undefined) out.push(rowOf(s))
    }
    return out
  }

  /** The stages the page charts: the most total time over the history. */
  private chartStages(history: ReadonlyArray<Bucket>): Array<string> {
    const totals = new Map<string, number>()
    for (const bucket of history) {
      for (const s of this.stagesOf(bucket)) totals.set(s.stageId, (totals.get(s.stageId) ?? 0) + s.sumMs)
    }
    return [...totals].sort((a, b) => b[1] - a[1]).slice(0, chartStages).map(([id]) => id)
  }

  /** The full payload for a page that just connected. */
  init(nowMs: number): Record<string, unknown> {
    this.advance(nowMs)
    const history = this.history(nowMs)
    const service = this.recorder.config.service
    return {
      type: "init",
      service: {
        name: service.serviceName,
        version: service.serviceVersion ?? null,
        environment: service.environment ?? null,
      },
      bucketMs: this.config.bucketMs,
      buckets: this.config.buckets,
      intervalMs: this.config.intervalMs,
      traceUrl: this.config.traceUrl ?? null,
      compare: this.config.compareWith !== undefined,
      startedAt: this.startedAt,
      chartStages: this.chartStages(history),
      series: history.map((b) => this.bucketRow(b)),
      ...this.panels(nowMs),
    }
  }

  /** The payload of one tick: the two newest buckets and the panels. */
  tick(nowMs: number): Record<string, unknown> {
    this.advance(nowMs)
    const history = this.history(nowMs)
    return {
      type: "tick",
      series: history.slice(-2).map((b) => this.bucketRow(b)),
      ...this.panels(nowMs),
    }
  }

  /** The summary of `requestId` among the requests the dashboard or the summary ring still holds. */
  find(requestId: string): RequestSummary | undefined {
    for (const s of this.failed) if (s !== undefined && s.requestId === requestId) return s
    for (const bucket of this.buckets) for (const s of bucket.slowest) if (s.requestId === requestId) return s
    for (const s of this.recorder.summaries.recent(this.recorder.summaries.capacity)) {
      if (s.requestId === requestId) return s
    }
    return undefined
  }

  /** Requests whose id contains `query` (exact matches first), at most `limit`. */
  search(query: string, limit: number = 20): Array<Row> {
    const q = query.trim()
    if (q === "") return []
    const seen = new Set<string>()
    const exact: Array<Row> = []
    const partial: Array<Row> = []
    const consider = (s: RequestSummary | undefined) => {
      if (s === undefined || seen.has(s.requestId)) return
      if (s.requestId === q) {
        seen.add(s.requestId)
        exact.push(rowOf(s))
      } else if (partial.length < limit && s.requestId.includes(q)) {
        seen.add(s.requestId)
        partial.push(rowOf(s))
      }
    }
    for (const s of this.recorder.summaries.recent(this.recorder.summaries.capacity)) consider(s)
    for (const s of this.failed) consider(s)
    for (const bucket of this.buckets) for (const s of bucket.slowest) consider(s)
    return [...exact, ...partial].slice(0, limit)
  }

  private compared: { readonly at: number; readonly result: Promise<Record<string, unknown>> } | undefined

  /**
   * The requests in memory (this version) against the newest other `service.version` of `compareWith`;
   * computed at most every 30 seconds (reading the logs is bounded by the reservoir size, the test by the
   * bootstrap replicates).
   */
  compare(nowMs: number): Promise<Record<string, unknown>> {
    const path = this.config.compareWith
    if (path === undefined) return Promise.resolve({ error: "no compareWith path is configured" })
    if (this.compared !== undefined && nowMs - this.compared.at < 30_000) return this.compared.result
    const current = this.recorder.config.service.serviceVersion ?? "(none)"
    const summaries = this.recorder.summaries.recent(this.recorder.summaries.capacity)
    const result = (async (): Promise<Record<string, unknown>> => {
      try {
        const read = await readByVersion(path, 5_000, 1)
        const previous = [...read.versions].filter(([version]) => version !== current)
          .sort((a, b) => b[1].first - a[1].first)[0]
        if (previous === undefined) {
          return { error: `${path} holds no request of a version other than ${current}` }
        }
        const after = new Side(`version ${current} (live)`, 5_000, 2)
        for (const summary of summaries) after.add(summary as never)
        after.versions.add(current)
        const comparison = compareSides(previous[1].side, after, { replicates: 1000 })
        return { comparison }
      } catch (error) {
        return { error: `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` }
      }
    })()
    this.compared = { at: nowMs, result }
    return result
  }

  /** Everything the page shows for one request: its summary, its log records and its trace link. */
  details(requestId: string): Record<string, unknown> | undefined {
    const summary = this.find(requestId)
    if (summary === undefined) return undefined
    const template = this.config.traceUrl
    return {
      summary,
      logs: this.logs.of(requestId),
      traceUrl: template === undefined ? null : template
        .replaceAll("{traceId}", encodeURIComponent(summary.traceId))
        .replaceAll("{spanId}", encodeURIComponent(summary.spanId)),
    }
  }
}
