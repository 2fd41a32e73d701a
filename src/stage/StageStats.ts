/**
 * Per-stage statistics over every request (sampling never hides a request from them): count, success
 * rate, mean, min, max and p50/p90/p95/p99 durations in milliseconds.
 *
 * Memory per stage is bounded whatever the number of samples: each stage id keeps one DDSketch
 * (`@datadog/sketches-js`) with a relative accuracy of 1% — every reported quantile is within 1% of the
 * exact value at that rank — and at most 2048 bins. Individual samples are never kept. The number of
 * distinct stage ids is bounded too (`maxStageIds`, default 1000); stages past it are aggregated under
 * `__overflow__`.
 *
 * Guide: [Statistics and summaries](../../docs/statistics-and-summaries.md#stage-statistics).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { CurrentRecorder } from "../internal/recorder.ts"
import type { StageStatsEntry } from "../internal/stageStats.ts"

/**
 * Statistics of one stage id. Durations are in milliseconds; `successRate` is in [0, 1].
 *
 * @category models
 * @since 0.1.0
 */
export interface StageStatistics {
  /** The stage id (`__overflow__` for stages past `maxStageIds`). */
  readonly stageId: string
  /** Executions seen. */
  readonly count: number
  /** Share of executions that succeeded, in [0, 1]. */
  readonly successRate: number
  /** Mean duration. */
  readonly meanMs: number
  /** Shortest duration. */
  readonly minMs: number
  /** Longest duration. */
  readonly maxMs: number
  /** Median duration (within 1%). */
  readonly p50Ms: number
  /** 90th percentile duration (within 1%). */
  readonly p90Ms: number
  /** 95th percentile duration (within 1%). */
  readonly p95Ms: number
  /** 99th percentile duration (within 1%). */
  readonly p99Ms: number
}

/**
 * The relative accuracy of every quantile in `StageStatistics`: 1%.
 *
 * @example Bounding a quantile
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const p50 = await Effect.runPromise(
 *   Stage.record("llm_request", { durationMs: 100 }).pipe(
 *     Effect.andThen(StageStats.quantile("llm_request", 0.5)),
 *     Effect.provide(Telemetry.layer()),
 *   ),
 * )
 * assert.ok(Math.abs(p50! - 100) <= 100 * StageStats.relativeAccuracy)
 * ```
 *
 * @category statistics
 * @since 0.1.0
 */
export const relativeAccuracy: number = 0.01

const toStatistics = (entry: StageStatsEntry): StageStatistics => {
  const sketch = entry.sketch
  const count = sketch.count
  return {
    stageId: entry.stageId,
    count,
    successRate: count === 0 ? 0 : entry.successes / count,
    meanMs: count === 0 ? 0 : sketch.sum / count,
    minMs: count === 0 ? 0 : sketch.min,
    maxMs: count === 0 ? 0 : sketch.max,
    p50Ms: entry.quantile(0.5),
    p90Ms: entry.quantile(0.9),
    p95Ms: entry.quantile(0.95),
    p99Ms: entry.quantile(0.99),
  }
}

/**
 * Statistics of one stage, or `undefined` when it never ran.
 *
 * @example Statistics of one stage
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const stats = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Stage.record("llm_request", { durationMs: 10 })
 *     yield* Stage.record("llm_request", { durationMs: 30, success: false })
 *     return yield* StageStats.get("llm_request")
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(stats?.count, 2)
 * assert.equal(stats?.successRate, 0.5)
 * assert.equal(stats?.meanMs, 20)
 * assert.equal(stats?.maxMs, 30)
 * ```
 *
 * @category statistics
 * @since 0.1.0
 */
export const get = (stageId: string): Effect.Effect<StageStatistics | undefined> =>
  Effect.withFiber((fiber) => {
    const entry = fiber.getRef(CurrentRecorder).stats.entries.get(stageId)
    return Effect.succeed(entry === undefined ? undefined : toStatistics(entry))
  })

/**
 * Statistics of every stage that ran, sorted by stage id.
 *
 * @example Every stage
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const all = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Stage.record("kb_search", { durationMs: 5 })
 *     yield* Stage.record("auth_check", { durationMs: 1 })
 *     return yield* StageStats.all
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.deepEqual(all.map((s) => s.stageId), ["auth_check", "kb_search"])
 * ```
 *
 * @category statistics
 * @since 0.1.0
 */
export const all: Effect.Effect<ReadonlyArray<StageStatistics>> = Effect.withFiber((fiber) => {
  const entries = [...fiber.getRef(CurrentRecorder).stats.entries.values()]
  entries.sort((a, b) => (a.stageId < b.stageId ? -1 : a.stageId > b.stageId ? 1 : 0))
  return Effect.succeed(entries.map(toStatistics))
})

/**
 * Estimates the value at quantile `q` (in [0, 1]) of a stage's durations, within 1% relative error.
 * `undefined` when the stage never ran or `q` is out of range.
 *
 * @example Any quantile
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const p75 = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     for (let ms = 1; ms <= 100; ms++) yield* Stage.record("kb_search", { durationMs: ms })
 *     return yield* StageStats.quantile("kb_search", 0.75)
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.ok(Math.abs(p75! - 75.25) <= 75.25 * 0.01)
 * ```
 *
 * @category statistics
 * @since 0.1.0
 */
export const quantile = (stageId: string, q: number): Effect.Effect<number | undefined> =>
  Effect.withFiber((fiber) => {
    const entry = fiber.getRef(CurrentRecorder).stats.entries.get(stageId)
    return Effect.succeed(entry === undefined || !(q >= 0 && q <= 1) ? undefined : entry.quantile(q))
  })
