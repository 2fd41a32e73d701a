/**
 * Latency budgets: `Budgets`.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md).
 *
 * @module
 */

/**
 * Latency budgets per stage and request: a stage or request slower than its budget is marked in its
 * summary, gets a `budget.exceeded` span event, counts in `stagetrace_budget_violations_total` and is
 * kept by the tail sampler; `Budgets.summary` reports the violations of a window.
 *
 * Guide: [Budgets](../../docs/budgets-errors-health.md#budgets).
 *
 * @example A stage over its budget
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Budgets, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Stage.record("kb_access", { durationMs: 30 }).pipe(
 *     Effect.andThen(Budgets.summary()),
 *     Effect.provide(Telemetry.layer({ budgets: { kb_access: "10 millis" } })),
 *   ),
 * )
 * assert.equal(summary.byStage["kb_access"]?.count, 1)
 * ```
 *
 * @since 0.1.0
 */
export * as Budgets from "./Budgets.ts"
