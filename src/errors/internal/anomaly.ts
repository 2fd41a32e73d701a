/**
 * Latency-anomaly detection: at the end of every window, each stage's p95 over that window (read from its
 * `StageStats` sketch through a `StatsWindow`, so the hot path pays nothing) is compared with the stage's
 * own baseline, the p95 of its previous windows:
 *
 *   anomalous ⇔ p95 > median(B) + max(k × 1.4826 × MAD(B), r × median(B), a)
 *
 * where B holds the p95 of the stage's last `baselineWindows` windows with at least `minSamples` samples,
 * MAD(B) = median(|b − median(B)|) (×1.4826 makes it estimate a standard deviation for normal data),
 * k = `madMultiplier`, r = `minRelativeIncrease` and a = `minAbsoluteIncrease`. The median and the MAD are
 * robust: one slow window in the baseline moves neither. Windows with fewer than `minSamples` samples are
 * neither judged nor added to the baseline; a stage with fewer than `minBaselineWindows` baseline windows
 * is not judged. Every judged window then enters the baseline, anomalous or not, so a lasting change
 * becomes the new normal after about half the baseline.
 *
 * One alert per crossing: a stage alerts on its first anomalous window and re-arms after a window that is
 * not anomalous. Memory: `baselineWindows` numbers per stage, stages bounded by `maxStageIds`.
 *
 * @internal
 */
import type { CounterFamily } from "../../internal/counterFamily.ts"
import type { StatsStore } from "../../internal/stageStats.ts"
import { StatsWindow } from "../../internal/statsWindow.ts"
import type { LatencyAnomalyAlert } from "./alertsModel.ts"

/** Validated latency-anomaly options. */
export interface AnomalyConfig {
  readonly windowMs: number
  readonly baselineWindows: number
  readonly minBaselineWindows: number
  readonly madMultiplier: number
  readonly minSamples: number
  readonly minRelativeIncrease: number
  readonly minAbsoluteIncreaseMs: number
}

/** The defaults. */
export const defaultAnomalyConfig: AnomalyConfig = {
  windowMs: 60_000,
  baselineWindows: 10,
  minBaselineWindows: 5,
  madMultiplier: 3,
  minSamples: 20,
  minRelativeIncrease: 0.2,
  minAbsoluteIncreaseMs: 1,
}

/** The factor that turns a MAD into a standard-deviation estimate for normally distributed data. */
export const madScale = 1.4826

/** The median of `values[0..length)` (sorts the prefix in place). */
const medianOf = (values: Float64Array, length: number): number => {
  const sorted = values.subarray(0, length).sort()
  const mid = length >> 1
  return length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A stage's baseline: a ring of window p95 values. */
class Baseline {
  readonly values: Float64Array
  size = 0
  next = 0
  armed = true

  constructor(capacity: number) {
    this.values = new Float64Array(capacity)
  }

  push(value: number): void {
    this.values[this.next] = value
    this.next = (this.next + 1) % this.values.length
    if (this.size < this.values.length) this.size++
  }
}

/** The threshold a window's p95 must exceed, from a baseline of `size` values. */
export const thresholdOf = (
  config: AnomalyConfig,
  values: ArrayLike<number>,
  size: number,
): { readonly median: number; readonly mad: number; readonly threshold: number } => {
  const scratch = new Float64Array(size)
  for (let i = 0; i < size; i++) scratch[i] = values[i]!
  const median = medianOf(scratch, size)
  for (let i = 0; i < size; i++) scratch[i] = Math.abs(values[i]! - median)
  const mad = medianOf(scratch, size)
  const margin = Math.max(
    config.madMultiplier * madScale * mad,
    config.minRelativeIncrease * median,
    config.minAbsoluteIncreaseMs,
  )
  return { median, mad, threshold: median + margin }
}

/** Judges every stage at the end of each window; see the module documentation. */
export class AnomalyDetector {
  readonly config: AnomalyConfig
  private readonly window: StatsWindow
  private readonly baselines: Map<string, Baseline> = new Map()
  private readonly maxStages: number
  private readonly publish: (alert: LatencyAnomalyAlert) => void
  private readonly counter: CounterFamily | undefined
  /** Start (epoch ms) of the current window. */
  private windowStart: number
  /** Anomalies ever published. */
  published = 0

  constructor(
    config: AnomalyConfig,
    stats: StatsStore,
    startMs: number,
    publish: (alert: LatencyAnomalyAlert) => void,
    counter?: CounterFamily,
  ) {
    this.config = config
    this.window = new StatsWindow(stats)
    this.maxStages = stats.maxStageIds + 1
    this.windowStart = startMs
    this.publish = publish
    this.counter = counter
  }

  /** Ends the current window at `nowMs`: judges every stage that ran in it; returns the alerts published. */
  evaluate(nowMs: number): Array<LatencyAnomalyAlert> {
    const config = this.config
    const firstAt = this.windowStart
    this.windowStart = nowMs
    const published: Array<LatencyAnomalyAlert> = []
    for (const stats of this.window.roll()) {
      if (stats.count < config.minSamples) continue
      let baseline = this.baselines.get(stats.stageId)
      if (baseline === undefined) {
        if (this.baselines.size >= this.maxStages) continue
        baseline = new Baseline(config.baselineWindows)
        this.baselines.set(stats.stageId, baseline)
      }
      const p95 = stats.p95Ms
      if (baseline.size >= config.minBaselineWindows) {
        const { median, mad, threshold } = thresholdOf(config, baseline.values, baseline.size)
        if (p95 > threshold) {
          if (baseline.armed) {
            baseline.armed = false
            const alert: LatencyAnomalyAlert = {
              kind: "latency_anomaly",
              stageId: stats.stageId,
              p95Ms: p95,
              baselineMs: median,
              madMs: mad,
              thresholdMs: threshold,
              baselineWindows: baseline.size,
              count: stats.count,
              windowMs: config.windowMs,
              firstAt,
              lastAt: nowMs,
            }
            this.published++
            const stageId = stats.stageId
            this.counter?.increment(stageId, () => ({ stage: stageId }))
            this.publish(alert)
            published.push(alert)
          }
        } else baseline.armed = true
      }
      baseline.push(p95)
    }
    return published
  }

  /** Stages with a baseline (for memory-bound tests). */
  size(): number {
    return this.baselines.size
  }
}
