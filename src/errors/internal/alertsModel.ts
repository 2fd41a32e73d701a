/**
 * The public models of `Alerts` that the error state and the alert handlers read, declared below the
 * public module so that they do not import each other. `Alerts.ts` re-exports this module whole
 * (`export *`), so everything exported here is public as `Alerts.<name>`.
 *
 * @module
 */
import type { ErrorCategory } from "../ErrorCategory.ts"

/**
 * An error-frequency alert: `count` errors of `category` in `stageId` within `windowMs`, reaching
 * `threshold`. `firstAt` and `lastAt` are epoch milliseconds of the first error still in the window and
 * of the error that crossed the threshold.
 *
 * @category models
 * @since 0.1.0
 */
export interface Alert {
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
