/**
 * The public models of `Budgets` that the budget state reads, declared below the public module so that
 * the two do not import each other. `Budgets.ts` re-exports this module whole (`export *`), so everything
 * exported here is public as `Budgets.<name>`.
 *
 * @module
 */

/**
 * One stage (or request) that took longer than its budget. `stageId` is the request's name for a request
 * budget; `requestId` is absent for a stage outside any request; `timestamp` is epoch milliseconds of the
 * end; `overagePercent` is `100 × overageMs / budgetMs`.
 *
 * @category models
 * @since 0.1.0
 */
export interface BudgetViolation {
  /** The stage id (or request name) that exceeded its budget. */
  readonly stageId: string
  /** The request it ran in, if any. */
  readonly requestId: string | undefined
  /** The budget, in milliseconds. */
  readonly budgetMs: number
  /** How long it took, in milliseconds. */
  readonly actualMs: number
  /** `actualMs - budgetMs`. */
  readonly overageMs: number
  /** The overage in percent of the budget. */
  readonly overagePercent: number
  /** When it ended, in epoch milliseconds. */
  readonly timestamp: number
}

/**
 * Violations of one stage (or request name) in a window.
 *
 * @category models
 * @since 0.1.0
 */
export interface StageBudgetSummary {
  /** Violations in the window. */
  readonly count: number
  /** Average overage, in milliseconds. */
  readonly avgOverageMs: number
  /** Largest overage, in milliseconds. */
  readonly maxOverageMs: number
  /** Average overage, in percent of the budget. */
  readonly avgOveragePercent: number
}

/**
 * Violations in a window ending now, as the seeds report them.
 *
 * @category models
 * @since 0.1.0
 */
export interface BudgetSummary {
  /** `budget_violations_detected` when the window holds any violation. */
  readonly status: "all_budgets_met" | "budget_violations_detected"
  /** Violations in the window, every stage included. */
  readonly totalViolations: number
  /** The window summarised, in milliseconds. */
  readonly windowMs: number
  /** Per stage id (or request name) that exceeded its budget in the window. */
  readonly byStage: Readonly<Record<string, StageBudgetSummary>>
}
