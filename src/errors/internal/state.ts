/**
 * Runtime state of the error concern, kept on the recorder under `ErrorsSlot`: the compiled rules, the
 * error window (per stage, a count per category in time buckets), the alert counters and the alert
 * subscribers. Everything is bounded: stage keys by `maxStageIds`, buckets by the window tiers, alert
 * counters by categories × stage keys, recent alerts by `recentAlertCapacity`.
 *
 * @internal
 */
import type * as Metric from "effect/Metric"
import type { CounterFamily } from "../../internal/counterFamily.ts"
import type { BackgroundLog, LogRecord } from "../../internal/backgroundLog.ts"
import { Slot } from "../../internal/recorder.ts"
import { CountRing, overflowKey, WindowStore } from "../../internal/window.ts"
import { all as allCategories, type ErrorCategory } from "../ErrorCategory.ts"
import type { Alert, ErrorFrequencyAlert, LatencyAnomalyAlert } from "./alertsModel.ts"
import type { ErrorSummary, StageErrorSummary } from "./errorsModel.ts"
import type { AnomalyConfig, AnomalyDetector } from "./anomaly.ts"
import type { Compiled } from "./classify.ts"

/** A live alert subscriber; returns `false` when it had to drop the alert. */
export type AlertListener = (alert: Alert) => boolean

/** Validated alert configuration. */
export interface AlertConfig {
  readonly windowMs: number
  readonly thresholds: ReadonlyMap<ErrorCategory, number>
  /** Latency-anomaly detection, when on. */
  readonly latencyAnomaly?: AnomalyConfig | undefined
}

/** Alerts kept for `Alerts.recent`. */
export const recentAlertCapacity = 100

/** Buckets per alert window (a 5-minute window moves 10 s at a time). */
export const alertBuckets = 30

/** The index of each category in an error-window vector. */
export const categoryIndex: ReadonlyMap<ErrorCategory, number> = new Map(
  allCategories.map((category, i) => [category, i]),
)

/** The alert counter of one category in one stage. */
export class AlertRing extends CountRing {
  readonly category: ErrorCategory
  readonly stageId: string
  readonly threshold: number

  constructor(category: ErrorCategory, stageId: string, windowMs: number, threshold: number) {
    super(windowMs, alertBuckets)
    this.category = category
    this.stageId = stageId
    this.threshold = threshold
  }
}

/** Per category and stage counts over the alert window; publishes once per crossing. */
export class AlertState {
  readonly config: AlertConfig
  private readonly rings: Map<string, AlertRing> = new Map()
  private readonly maxRings: number
  readonly listeners: Set<AlertListener> = new Set()
  /** The most recent alerts, oldest first (bounded). */
  readonly recent: Array<Alert> = []
  log: BackgroundLog | undefined
  /** The latency-anomaly detector, when on. */
  anomalies: AnomalyDetector | undefined
  /** Alerts ever published. */
  published = 0

  constructor(config: AlertConfig, maxStages: number) {
    this.config = config
    this.maxRings = Math.max(1, maxStages) * allCategories.length
  }

  /**
   * The counter of `category` in `stageId` (`undefined` when the category has no threshold), created on
   * first use; past the bound, the category's overflow counter.
   */
  ring(category: ErrorCategory, stageId: string): AlertRing | undefined {
    const threshold = this.config.thresholds.get(category)
    if (threshold === undefined) return undefined
    const key = category + "\u0000" + stageId
    let ring = this.rings.get(key)
    if (ring !== undefined) return ring
    if (this.rings.size >= this.maxRings) {
      const overflow = category + "\u0000" + overflowKey
      ring = this.rings.get(overflow)
      if (ring === undefined) {
        ring = new AlertRing(category, overflowKey, this.config.windowMs, threshold)
        this.rings.set(overflow, ring)
      }
      return ring
    }
    ring = new AlertRing(category, stageId, this.config.windowMs, threshold)
    this.rings.set(key, ring)
    return ring
  }

  /** Counts one error; returns the alert when this error makes the count cross the threshold. */
  record(category: ErrorCategory, stageId: string, nowMs: number): Alert | undefined {
    const ring = this.ring(category, stageId)
    return ring === undefined ? undefined : this.count(ring, nowMs)
  }

  /** Counts one error on `ring`; returns the alert when this error makes the count cross the threshold. */
  count(ring: AlertRing, nowMs: number): Alert | undefined {
    const category = ring.category
    const stageId = ring.stageId
    const threshold = ring.threshold
    // Re-arm once the count has fallen below the threshold since the last alert.
    if (!ring.armed && ring.count(nowMs) < threshold) ring.armed = true
    ring.add(nowMs)
    if (!ring.armed) return undefined
    const count = ring.count(nowMs)
    if (count < threshold) return undefined
    ring.armed = false
    const alert: Alert = {
      kind: "error_frequency",
      category,
      stageId,
      count,
      threshold,
      windowMs: this.config.windowMs,
      firstAt: ring.firstInWindow(nowMs) ?? nowMs,
      lastAt: nowMs,
    }
    this.publish(alert)
    return alert
  }

  /** Publishes `alert`: recent ring, subscribers, and a log record (error level, warning for anomalies). */
  publish(alert: Alert): void {
    this.published++
    if (this.recent.length >= recentAlertCapacity) this.recent.shift()
    this.recent.push(alert)
    for (const listener of this.listeners) listener(alert)
    this.log?.offer({
      level: alert.kind === "error_frequency" ? "Error" : "Warn",
      render: () => alert.kind === "error_frequency" ? alertRecord(alert) : anomalyRecord(alert),
    })
  }

  /** Alert counters held (for memory-bound tests). */
  size(): number {
    return this.rings.size
  }
}

/** The error logged for an error-frequency alert (rendered in the background). */
const alertRecord = (alert: ErrorFrequencyAlert): LogRecord => ({
  message: `Error alert: ${alert.count} ${alert.category} error${
    alert.count === 1 ? "" : "s"
  } in ${alert.stageId} within ${formatWindow(alert.windowMs)} (threshold ${alert.threshold})`,
  annotations: {
    "alert.type": "error_frequency",
    "error.category": alert.category,
    "stage.id": alert.stageId,
    "alert.count": alert.count,
    "alert.threshold": alert.threshold,
    "alert.window_ms": alert.windowMs,
    "alert.first_at": new Date(alert.firstAt).toISOString(),
    "alert.last_at": new Date(alert.lastAt).toISOString(),
  },
})

const round2 = (ms: number): number => Math.round(ms * 100) / 100

/** The warning logged for a latency anomaly (rendered in the background). */
const anomalyRecord = (alert: LatencyAnomalyAlert): LogRecord => ({
  message: `Latency anomaly: ${alert.stageId} p95 ${round2(alert.p95Ms)} ms over the last ${
    formatWindow(alert.windowMs)
  }, above ${round2(alert.thresholdMs)} ms (baseline p95 median ${round2(alert.baselineMs)} ms)`,
  annotations: {
    "alert.type": "latency_anomaly",
    "stage.id": alert.stageId,
    "alert.p95_ms": round2(alert.p95Ms),
    "alert.baseline_ms": round2(alert.baselineMs),
    "alert.mad_ms": round2(alert.madMs),
    "alert.threshold_ms": round2(alert.thresholdMs),
    "alert.count": alert.count,
    "alert.window_ms": alert.windowMs,
    "alert.first_at": new Date(alert.firstAt).toISOString(),
    "alert.last_at": new Date(alert.lastAt).toISOString(),
  },
})

const formatWindow = (ms: number): string =>
  ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`

/** What the error window, the counter and the alerts need about one stage key, resolved once. */
interface StageEntry {
  readonly keyId: number
  readonly label: string
  readonly counters: Array<Metric.Counter<number> | undefined>
  /** Alert counters by category index (`null`: the category has no threshold). */
  readonly rings: Array<AlertRing | null | undefined>
}

/** The error concern's state on a recorder. */
export class ErrorsState {
  readonly rules: Compiled
  /** Per stage key: one count per category (in `allCategories` order). */
  readonly window: WindowStore
  readonly alerts: AlertState | undefined
  readonly counter: CounterFamily
  /** Errors counted since the layer started. */
  total = 0
  private readonly entries: Map<string, StageEntry> = new Map()
  private readonly maxEntries: number

  constructor(rules: Compiled, maxStages: number, alerts: AlertState | undefined, counter: CounterFamily) {
    this.rules = rules
    this.window = new WindowStore(allCategories.map(() => "sum"), maxStages)
    this.alerts = alerts
    this.counter = counter
    this.maxEntries = maxStages + 1
  }

  private entry(stageId: string): StageEntry {
    let entry = this.entries.get(stageId)
    if (entry !== undefined) return entry
    const keyId = this.window.keyId(stageId)
    const label = this.window.keyName(keyId)
    entry = this.entries.get(label) ?? {
      keyId,
      label,
      counters: allCategories.map(() => undefined),
      rings: allCategories.map(() => undefined),
    }
    // Stage ids past the bound share the overflow entry without being remembered.
    if (this.entries.size < this.maxEntries) this.entries.set(stageId, entry)
    return entry
  }

  /** Counts one error of `category` that happened in `stageId` at `nowMs`. */
  record(category: ErrorCategory, stageId: string, nowMs: number): void {
    this.total++
    const entry = this.entry(stageId)
    const index = categoryIndex.get(category)!
    this.window.addOne(entry.keyId, nowMs, index)
    const label = entry.label
    const counter = entry.counters[index] ??= this.counter.series(
      category + "\u0000" + label,
      () => ({ category, stage: label }),
    )
    this.counter.add(counter)
    const alerts = this.alerts
    if (alerts !== undefined) {
      let ring = entry.rings[index]
      if (ring === undefined) ring = entry.rings[index] = alerts.ring(category, label) ?? null
      if (ring !== null) alerts.count(ring, nowMs)
    }
  }
}

/** Where the error concern keeps its state. */
export const ErrorsSlot: Slot<ErrorsState> = new Slot<ErrorsState>("errors")

const emptyByCategory = (): Record<ErrorCategory, number> => {
  const out = {} as Record<ErrorCategory, number>
  for (const category of allCategories) out[category] = 0
  return out
}

/** The error summary of `state` over the window ending at `nowMs` (empty without state). */
export const summaryAt = (state: ErrorsState | undefined, windowMs: number, nowMs: number): ErrorSummary => {
  const byCategory = emptyByCategory()
  const byStage: Record<string, StageErrorSummary> = {}
  let totalErrors = 0
  if (state === undefined) return { totalErrors, windowMs, byCategory, byStage }
  const effective = state.window.effectiveWindow(windowMs)
  for (const [stageId, counts] of state.window.query(effective, nowMs)) {
    let total = 0
    const stageCategories: Partial<Record<ErrorCategory, number>> = {}
    allCategories.forEach((category, i) => {
      const n = counts[i]!
      if (n > 0) {
        stageCategories[category] = n
        byCategory[category] += n
        total += n
      }
    })
    if (total === 0) continue
    byStage[stageId] = { total, byCategory: stageCategories }
    totalErrors += total
  }
  return { totalErrors, windowMs: effective, byCategory, byStage }
}
