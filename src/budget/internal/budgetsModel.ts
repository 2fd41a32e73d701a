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
  readonly stageId: string
  readonly requestId: string | undefined
  readonly budgetMs: number
  readonly actualMs: number
  readonly overageMs: number
  readonly overagePercent: number
  readonly timestamp: number
}

/**
 * Violations of one stage (or request name) in a window.
 *
 * @category models
 * @since 0.1.0
 */
export interface StageBudgetSummary {
  readonly count: number
  readonly avgOverageMs: number
  readonly maxOverageMs: number
  readonly avgOveragePercent: number
}

/**
 * Violations in a window ending now, as the seeds report them.
 *
 * @category models
 * @since 0.1.0
 */
export interface BudgetSummary {
  readonly status: "all_budgets_met" | "budget_violations_detected"
  readonly totalViolations: number
  readonly windowMs: number
  readonly byStage: Readonly<Record<string, StageBudgetSummary>>
}
