/**
 * Latency budgets: `Budgets`.
 *
 * @module
 */

/** Latency budgets per stage and request: violations, `Budgets.summary`. @since 0.1.0 */
export * as Budgets from "./Budgets.ts"
