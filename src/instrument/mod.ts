/**
 * Effect's own modules as requests and stages: `Instrument`.
 *
 * Guide: [Effect's own modules](../../docs/effect-modules.md).
 *
 * @module
 */

/**
 * The adoption of the spans of Effect's `effect/http`, `effect/ai` and `effect/sql`: the `instrument` option
 * of `Telemetry.layer` and `Instrument.summarizeSql`.
 *
 * Guide: [Effect's own modules](../../docs/effect-modules.md).
 *
 * @example A SQL summary
 * ```ts
 * import assert from "node:assert/strict"
 * import { Instrument } from "@stagetrace/stagetrace"
 *
 * assert.equal(Instrument.summarizeSql("SELECT * FROM users WHERE id = $1"), "SELECT users")
 * ```
 *
 * @since 0.2.0
 */
export * as Instrument from "./Instrument.ts"
