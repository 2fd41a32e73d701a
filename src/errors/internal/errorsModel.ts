/**
 * The public models of `Errors` that the error state reads, declared below the public module so that the
 * two do not import each other. `Errors.ts` re-exports this module whole (`export *`), so everything
 * exported here is public as `Errors.<name>`.
 *
 * @module
 */
import type { ErrorCategory } from "../ErrorCategory.ts"

/**
 * Errors counted in a window.
 *
 * - `byCategory`: every category, zero when none happened;
 * - `byStage`: per stage id (or request name, for failures outside any stage) that failed in the window.
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorSummary {
  /** Errors in the window, every category included. */
  readonly totalErrors: number
  /** The window summarised, in milliseconds. */
  readonly windowMs: number
  /** Errors per category (every category present, zero when none happened). */
  readonly byCategory: Readonly<Record<ErrorCategory, number>>
  /** Per stage id (or request name) that failed in the window. */
  readonly byStage: Readonly<Record<string, StageErrorSummary>>
}

/**
 * Errors of one stage in a window.
 *
 * @category models
 * @since 0.1.0
 */
export interface StageErrorSummary {
  /** Errors of this stage in the window. */
  readonly total: number
  /** Its errors per category (only categories that happened). */
  readonly byCategory: Readonly<Partial<Record<ErrorCategory, number>>>
}
