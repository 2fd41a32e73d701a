/**
 * Error classification and alerts: `ErrorCategory`, `Errors`, `Alerts`.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md).
 *
 * @module
 */

/**
 * Alerts on error frequency per category and stage: one alert when a category's errors in a stage reach
 * their threshold within the window; `Alerts.recent`, `Alerts.stream`, `Alerts.subscribe`.
 *
 * Guide: [Alerts](../../docs/budgets-errors-health.md#alerts).
 *
 * @example One resource error raises an alert
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Alerts, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const recent = await Effect.runPromise(
 *   Effect.fail(new Error("disk full")).pipe(
 *     Stage.track("kb_write"),
 *     Effect.ignore,
 *     Effect.andThen(Alerts.recent),
 *     Effect.provide(Telemetry.layer()),
 *   ),
 * )
 * assert.equal(recent[0]?.kind === "error_frequency" && recent[0].category, "resource")
 * ```
 *
 * @since 0.1.0
 */
export * as Alerts from "./Alerts.ts"
/**
 * The categories failures are sorted into: `transient`, `configuration`, `data`, `resource`,
 * `interrupted`, `defect`, `unknown`.
 *
 * Guide: [Errors](../../docs/budgets-errors-health.md#errors).
 *
 * @example Only transient failures are retryable by default
 * ```ts
 * import assert from "node:assert/strict"
 * import { ErrorCategory } from "@stagetrace/stagetrace"
 *
 * assert.deepEqual(ErrorCategory.all.filter(ErrorCategory.isRetryable), ["transient"])
 * ```
 *
 * @since 0.1.0
 */
export * as ErrorCategory from "./ErrorCategory.ts"
/**
 * Error classification from an Effect `Cause`: your rules (`Errors.rules`), then HTTP statuses, error names
 * and codes, and message patterns; `Errors.classify`, `Errors.summary`.
 *
 * Guide: [Errors](../../docs/budgets-errors-health.md#errors).
 *
 * @example Classifying a failure
 * ```ts
 * import assert from "node:assert/strict"
 * import { Cause } from "effect"
 * import { Errors } from "@stagetrace/stagetrace"
 *
 * assert.equal(Errors.classify(Cause.fail(new Error("connection reset by peer"))).category, "transient")
 * ```
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"
