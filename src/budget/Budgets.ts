/**
 * Latency budgets. A stage or request gets a budget from its own `budget` option
 * (`Stage.track("kb_access", { budget: "2 seconds" })`, `Request.track("chat", { budget: "3 seconds" })`)
 * or from the `budgets` table of `Telemetry.layer`, whose keys are stage ids or request names; the
 * explicit option wins over the table.
 *
 * When one takes longer than its budget, with `Telemetry.layer` installed:
 *
 * - its `StageExecution` gets `budgetMs` and `overBudget: true`, and the request summary `overBudget: true`
 *   (so the tail sampler keeps the request);
 * - its span gets a `budget.exceeded` event (`budget.ms`, `budget.actual_ms`, `budget.overage_ms`,
 *   `budget.overage_percent`) and the attribute `stagetrace.over_budget`;
 * - `stagetrace_budget_violations_total{stage}` is incremented;
 * - a warning is logged through Effect's `Logger` (from a background fiber);
 * - the violation is counted in a sliding window read by `Budgets.summary` and `Health.check`.
 *
 * A stage without a budget costs nothing measurable. Windows are aggregates per time bucket, never lists
 * of violations, so memory stays bounded whatever the traffic.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md#budgets).
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { CurrentRecorder } from "../internal/recorder.ts"
import { windowSummary } from "../internal/window.ts"
import type { BudgetSummary } from "./internal/budgetsModel.ts"
import { BudgetsSlot, summaryAt } from "./internal/state.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: BudgetViolation, StageBudgetSummary, BudgetSummary (declared in ./internal/budgetsModel.ts,
// which the budget state reads), SummaryOptions, BudgetOptions
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/budgetsModel.ts"

/**
 * Options of `Budgets.summary`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SummaryOptions {
  /**
   * The window to summarise, ending now. Violations are kept per bucket (1 s up to a minute, 1 min up to
   * an hour, 1 h up to a day), so the oldest bucket may reach one bucket width further back; longer
   * windows are clamped to 24 hours. An invalid window means the default (counted as an
   * `invalid_window` drop).
   * @default "24 hours"
   */
  readonly window?: Duration.Input | undefined
}

/**
 * Budget options of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface BudgetOptions {
  /**
   * Latency budgets by stage id or request name (positive durations, for example
   * `{ auth_check: "1 millis", kb_access: "2 seconds", chat: "3 seconds" }`). An entry applies wherever
   * that stage or request runs; a `budget` option on the stage or request itself wins. Environment:
   * `STAGETRACE_BUDGETS=auth_check=1ms,kb_access=2s,chat=3s`.
   * @default {}
   */
  readonly budgets?: Readonly<Record<string, Duration.Input>> | undefined
}

// ---------------------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------------------

const dayMs = 86_400_000

/**
 * Budget violations in the window ending now (default 24 hours): total, and per stage the count and the
 * average and maximum overage. `all_budgets_met` when there were none (or the telemetry layer is not
 * installed).
 *
 * @example Summarising violations
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Budgets, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const handle = Effect.gen(function* () {
 *   yield* Effect.sleep("20 millis").pipe(Stage.track("kb_access"))
 * }).pipe(Request.track("chat"))
 *
 * const summary = await Effect.runPromise(
 *   Effect.andThen(handle, Budgets.summary({ window: "1 hour" })).pipe(
 *     Effect.provide(Telemetry.layer({ budgets: { kb_access: "5 millis" } })),
 *   ),
 * )
 * assert.equal(summary.status, "budget_violations_detected")
 * assert.equal(summary.byStage["kb_access"]?.count, 1)
 * ```
 *
 * @category summaries
 * @since 0.1.0
 */
export const summary = (options?: SummaryOptions): Effect.Effect<BudgetSummary> =>
  windowSummary(BudgetsSlot, options?.window, dayMs, summaryAt)

/**
 * The budget that applies to a stage id or request name from the `budgets` table, in milliseconds
 * (`undefined` when the table has none; a stage's own `budget` option still wins over it).
 *
 * @example Reading the budgets table
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Budgets, Telemetry } from "@stagetrace/stagetrace"
 *
 * const [kb, other] = await Effect.runPromise(
 *   Effect.all([Budgets.budgetFor("kb_access"), Budgets.budgetFor("auth_check")]).pipe(
 *     Effect.provide(Telemetry.layer({ budgets: { kb_access: "2 seconds" } })),
 *   ),
 * )
 * assert.equal(kb, 2000)
 * assert.equal(other, undefined)
 * ```
 *
 * @category budgets
 * @since 0.1.0
 */
export const budgetFor = (id: string): Effect.Effect<number | undefined> =>
  Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder).get(BudgetsSlot)?.table.get(id)))
