/**
 * Effect's own modules as requests and stages: `Instrument`.
 *
 * @module
 */

/** Options and helpers of the adoption of Effect's `effect/http`, `effect/ai` and `effect/sql` spans. @since 0.2.0 */
export * as Instrument from "./Instrument.ts"
