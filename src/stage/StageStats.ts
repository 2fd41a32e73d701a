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
  readonly stageId: string
  readonly count: number
  readonly successRate: number
  readonly meanMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

/**
 * The relative accuracy of every quantile in `StageStatistics`: 1%.
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
 * @category statistics
 * @since 0.1.0
 */
export const quantile = (stageId: string, q: number): Effect.Effect<number | undefined> =>
  Effect.withFiber((fiber) => {
    const entry = fiber.getRef(CurrentRecorder).stats.entries.get(stageId)
    return Effect.succeed(entry === undefined || !(q >= 0 && q <= 1) ? undefined : entry.quantile(q))
  })
