/**
 * Health checks: `Health`.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md#health).
 *
 * @module
 */

/**
 * Health checks and an HTTP health handler: memory, budgets, errors and the exporter rolled into
 * `healthy`, `degraded` or `critical`; `Health.check`, `Health.handler`.
 *
 * Guide: [Health](../../docs/budgets-errors-health.md#health).
 *
 * @example A check
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Health, Telemetry } from "@stagetrace/stagetrace"
 *
 * const report = await Effect.runPromise(Health.check.pipe(Effect.provide(Telemetry.layer())))
 * assert.equal(report.checks.budgets.status, "healthy")
 * ```
 *
 * @since 0.1.0
 */
export * as Health from "./Health.ts"
