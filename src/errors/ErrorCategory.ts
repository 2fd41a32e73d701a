/**
 * The categories stagetrace sorts failures into, the seeds' four (`transient`, `configuration`, `data`,
 * `resource`) plus the three an Effect `Cause` tells apart on its own (`interrupted`, `defect`) and
 * `unknown` for everything no rule recognised.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md#errors).
 *
 * @module
 */

/**
 * Why something failed, in terms of what to do about it:
 *
 * - `transient`: a timeout, a refused or reset connection, a rate limit, a 503 — retrying may succeed;
 * - `configuration`: credentials, permissions, keys, settings — a person has to fix something;
 * - `data`: invalid, malformed or missing input — the same input fails again;
 * - `resource`: memory, disk, CPU or a quota ran out;
 * - `interrupted`: the fiber was interrupted (a timeout race, a shutdown, a cancelled request);
 * - `defect`: an unexpected error (`Effect.die`, a thrown exception) that no rule recognised;
 * - `unknown`: a typed failure that no rule recognised.
 *
 * @category models
 * @since 0.1.0
 */
export type ErrorCategory =
  | "transient"
  | "configuration"
  | "data"
  | "resource"
  | "interrupted"
  | "defect"
  | "unknown"

/**
 * Every category, in the order summaries list them.
 *
 * @example Every category
 * ```ts
 * import assert from "node:assert/strict"
 * import { ErrorCategory } from "@stagetrace/stagetrace"
 *
 * assert.equal(ErrorCategory.all.length, 7)
 * assert.equal(ErrorCategory.all[0], "transient")
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const all: ReadonlyArray<ErrorCategory> = [
  "transient",
  "configuration",
  "data",
  "resource",
  "interrupted",
  "defect",
  "unknown",
]

const known: ReadonlySet<string> = new Set(all)

/**
 * Whether `value` is one of the categories.
 *
 * @example Checking a category read from outside
 * ```ts
 * import assert from "node:assert/strict"
 * import { ErrorCategory } from "@stagetrace/stagetrace"
 *
 * assert.equal(ErrorCategory.isErrorCategory("transient"), true)
 * assert.equal(ErrorCategory.isErrorCategory("flaky"), false)
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isErrorCategory = (value: unknown): value is ErrorCategory =>
  typeof value === "string" && known.has(value)

/**
 * Whether failures of a category are worth retrying when no rule says otherwise: only `transient` ones.
 *
 * @example Retrying only transient failures
 * ```ts
 * import assert from "node:assert/strict"
 * import { ErrorCategory } from "@stagetrace/stagetrace"
 *
 * assert.equal(ErrorCategory.isRetryable("transient"), true)
 * assert.equal(ErrorCategory.isRetryable("configuration"), false)
 * ```
 *
 * @category predicates
 * @since 0.1.0
 */
export const isRetryable = (category: ErrorCategory): boolean => category === "transient"
