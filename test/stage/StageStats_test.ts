import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import { Request, Stage, StageStats, Summaries, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { LogCollapsingLowestDenseDDSketch } from "@datadog/sketches-js"
import { binLimit, pendingLimit, relativeAccuracy, StageStatsEntry } from "../../src/internal/stageStats.ts"
import { effectTest } from "../_harness.ts"

/** A deterministic pseudo-random source (mulberry32), so failures reproduce. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Exact quantile, linearly interpolated between ranks (numpy's default), as StageStats reports it. */
const exactQuantile = (sorted: ReadonlyArray<number>, q: number) => {
  const rank = q * (sorted.length - 1)
  const lo = Math.floor(rank)
  const low = sorted[lo]!
  return rank === lo ? low : low + (sorted[lo + 1]! - low) * (rank - lo)
}

const distributions: Record<string, (r: () => number) => number> = {
  // Latencies are right-skewed: log-normal around 40 ms with a long tail.
  lognormal: (r) =>
    Math.exp(Math.log(40) + 0.9 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())),
  // Heavy tail: Pareto with alpha 1.2 from 1 ms.
  pareto: (r) => 1 / Math.pow(1 - r(), 1 / 1.2),
  // Cache hit/miss: 90% around 2 ms, 10% around 800 ms.
  bimodal: (r) => (r() < 0.9 ? 1.5 + r() : 700 + 200 * r()),
  // Exponential with a tiny mean: sub-millisecond stages.
  exponential: (r) => -0.05 * Math.log(1 - r()),
}

for (const [name, draw] of Object.entries(distributions)) {
  Deno.test(`StageStats quantiles are within 1% of exact percentiles on a ${name} distribution`, () => {
    const r = random(42)
    const entry = new StageStatsEntry("s")
    const values: Array<number> = []
    for (let i = 0; i < 50_000; i++) {
      const v = draw(r)
      values.push(v)
      entry.record(v, true)
    }
    values.sort((a, b) => a - b)
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const exact = exactQuantile(values, q)
      const estimate = entry.quantile(q)
      const error = Math.abs(estimate - exact) / exact
      assert.ok(
        error <= 0.01 + 1e-9,
        `${name} p${q * 100}: estimate ${estimate} vs exact ${exact} (${error})`,
      )
    }
  })
}

Deno.test("StageStats memory per stage stays bounded whatever the number of samples", () => {
  const entry = new StageStatsEntry("s")
  const r = random(7)
  // A million samples over twelve orders of magnitude.
  for (let i = 0; i < 1_000_000; i++) entry.record(Math.pow(10, 12 * r() - 6), true)
  const store = (entry.sketch as unknown as { store: { bins: Array<number> } }).store
  assert.ok(store.bins.length <= binLimit, `bins ${store.bins.length}`)
  assert.equal(entry.sketch.count, 1_000_000)
})

/** The fields of a sketch every reader relies on, bins included. */
const sketchState = (sketch: LogCollapsingLowestDenseDDSketch) => {
  const raw = sketch as unknown as {
    zeroCount: number
    store: { bins: Array<number>; count: number; minKey: number; maxKey: number; offset: number }
    negativeStore: { count: number }
  }
  return {
    count: sketch.count,
    sum: sketch.sum,
    min: sketch.min,
    max: sketch.max,
    zeroCount: raw.zeroCount,
    negatives: raw.negativeStore.count,
    storeCount: raw.store.count,
    minKey: raw.store.minKey,
    maxKey: raw.store.maxKey,
    offset: raw.store.offset,
    bins: [...raw.store.bins],
  }
}

Deno.test("StageStats' buffered inserts leave the sketch exactly as the library's own inserts", () => {
  const r = random(11)
  const draws: Record<string, () => number> = {
    ...Object.fromEntries(Object.entries(distributions).map(([name, draw]) => [name, () => draw(r)])),
    // Twelve orders of magnitude: the bins grow, shift and collapse past the bin limit.
    collapsing: () => Math.pow(10, 12 * r() - 6),
    // Zeros, negatives, NaN and subnormals take the library's own path.
    odd: () => [0, -1, NaN, 5e-324, 1e-3, 2.5][Math.floor(r() * 6)]!,
  }
  for (const [name, draw] of Object.entries(draws)) {
    for (const n of [1, pendingLimit - 1, pendingLimit, pendingLimit + 1, 20_011]) {
      const entry = new StageStatsEntry("s")
      const reference = new LogCollapsingLowestDenseDDSketch({ relativeAccuracy, binLimit })
      for (let i = 0; i < n; i++) {
        const v = draw()
        entry.record(v, true)
        reference.accept(v)
      }
      assert.deepEqual(sketchState(entry.sketch), sketchState(reference), `${name} after ${n}`)
      for (const q of [0, 0.5, 0.9, 0.99, 1]) {
        assert.ok(
          Object.is(entry.sketch.getValueAtQuantile(q), reference.getValueAtQuantile(q)),
          `${name} q${q} after ${n}`,
        )
      }
    }
  }
})

Deno.test("StageStats reads see every recorded duration, whatever the buffer holds", () => {
  const entry = new StageStatsEntry("s")
  entry.record(10, true)
  assert.equal(entry.sketch.count, 1)
  assert.equal(entry.quantile(0.5), 10)
  entry.record(30, false)
  assert.equal(entry.sketch.count, 2)
  assert.equal(entry.sketch.max, 30)
  assert.equal(entry.sketch.sum, 40)
  assert.equal(entry.successes, 1)
})

effectTest("StageStats.get() reports count, success rate, mean, min and max", () =>
  Effect.gen(function* () {
    for (const ms of [10, 20, 30, 40]) {
      yield* Stage.record("llm_request", { durationMs: ms, success: ms !== 40 })
    }
    const stats = yield* StageStats.get("llm_request")
    assert.ok(stats)
    assert.equal(stats.count, 4)
    assert.equal(stats.successRate, 0.75)
    assert.equal(stats.meanMs, 25)
    assert.equal(stats.minMs, 10)
    assert.equal(stats.maxMs, 40)
    // Linear interpolation between ranks: p50 = 25, p99 = 39.7 (each within 1%).
    assert.ok(Math.abs(stats.p50Ms - 25) <= 0.25, `p50 ${stats.p50Ms}`)
    assert.ok(Math.abs(stats.p99Ms - 39.7) <= 0.397, `p99 ${stats.p99Ms}`)
    assert.equal(yield* StageStats.get("never_ran"), undefined)
    assert.equal(yield* StageStats.quantile("llm_request", 2), undefined)
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "StageStats aggregates stage ids past maxStageIds under __overflow__",
  () =>
    Effect.gen(function* () {
      for (let i = 0; i < 5; i++) yield* Stage.record(`stage_${i}`, { durationMs: 1 })
      const all = yield* StageStats.all
      assert.deepEqual(all.map((s) => [s.stageId, s.count]), [
        ["__overflow__", 2],
        ["stage_0", 1],
        ["stage_1", 1],
        ["stage_2", 1],
      ])
    }).pipe(Effect.provide(Telemetry.layer({ maxStageIds: 3 }))),
)

effectTest("StageStats and Summaries stay bounded after 100k requests", () =>
  Effect.gen(function* () {
    const request = Effect.gen(function* () {
      yield* Effect.void.pipe(Stage.track("auth_check"))
      yield* Effect.void.pipe(Stage.track("kb_search"), Stage.track("kb_access"))
      yield* Stage.record("llm_request", { durationMs: 12 })
    }).pipe(Request.track("chat"))
    for (let i = 0; i < 100_000; i++) yield* request
    const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
    assert.equal(recorder.stats.entries.size, 4)
    assert.equal((yield* StageStats.get("auth_check"))?.count, 100_000)
    const size = yield* Summaries.size
    assert.deepEqual(size, { held: 1000, total: 100_000 })
    assert.equal((yield* Summaries.recent(5000)).length, 1000)
    assert.equal(recorder.inFlight, 0)
  }).pipe(Effect.provide(Telemetry.layer())), { sanitizeOps: false })
