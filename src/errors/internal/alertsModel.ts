/**
 * The public models of `Alerts` that the error state and the alert handlers read, declared below the
 * public module so that they do not import each other. `Alerts.ts` re-exports this module whole
 * (`export *`), so everything exported here is public as `Alerts.<name>`.
 *
 * @module
 */
import type { ErrorCategory } from "../ErrorCategory.ts"

/**
 * An alert: `kind` tells which (`error_frequency` or `latency_anomaly`).
 *
 * @category models
 * @since 0.1.0
 */
export type Alert = ErrorFrequencyAlert | LatencyAnomalyAlert

/**
 * An error-frequency alert: `count` errors of `category` in `stageId` within `windowMs`, reaching
 * `threshold`. `firstAt` and `lastAt` are epoch milliseconds of the first error still in the window and
 * of the error that crossed the threshold.
 *
 * @category models
 * @since 0.2.0
 */
export interface ErrorFrequencyAlert {
  /** The kind of alert. */
  readonly kind: "error_frequency"
  /** The category whose errors reached the threshold. */
  readonly category: ErrorCategory
  /** The stage id (or request name) the errors happened in. */
  readonly stageId: string
  /** Errors of this category and stage in the window. */
  readonly count: number
  /** The threshold that was reached. */
  readonly threshold: number
  /** The window the errors were counted over, in milliseconds. */
  readonly windowMs: number
  /** Epoch milliseconds of the first error still in the window. */
  readonly firstAt: number
  /** Epoch milliseconds of the error that crossed the threshold. */
  readonly lastAt: number
}

/**
 * A latency anomaly: over the window from `firstAt` to `lastAt` (epoch milliseconds, `windowMs` long),
 * `stageId` ran `count` times with a p95 of `p95Ms`, above `thresholdMs`, the bound derived from its
 * baseline: the median (`baselineMs`) and median absolute deviation (`madMs`) of the p95 of its
 * `baselineWindows` previous windows.
 *
 * @category models
 * @since 0.2.0
 */
export interface LatencyAnomalyAlert {
  /** The kind of alert. */
  readonly kind: "latency_anomaly"
  /** The stage whose p95 rose. */
  readonly stageId: string
  /** The stage's p95 over the window, in milliseconds. */
  readonly p95Ms: number
  /** The median of the baseline windows' p95, in milliseconds. */
  readonly baselineMs: number
  /** The median absolute deviation of the baseline windows' p95, in milliseconds. */
  readonly madMs: number
  /** The bound the p95 exceeded, in milliseconds. */
  readonly thresholdMs: number
  /** How many windows the baseline held. */
  readonly baselineWindows: number
  /** Executions of the stage in the window. */
  readonly count: number
  /** The window's length, in milliseconds. */
  readonly windowMs: number
  /** Epoch milliseconds of the window's start. */
  readonly firstAt: number
  /** Epoch milliseconds of the window's end. */
  readonly lastAt: number
}
