import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import { Alerts, Stage, Telemetry } from "../../mod.ts"
import { defaultAnomalyConfig, thresholdOf } from "../../src/errors/internal/anomaly.ts"
import { effectTest } from "../_harness.ts"
import { captureLogs, counterValue } from "./_support.ts"

/** `n` executions of `stageId` around `ms` (±10%, deterministic), then the end of the 10-second window. */
const windowOf = (stageId: string, ms: number, n = 30) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Stage.record(stageId, { durationMs: ms * (0.9 + (i % 5) * 0.05) })
    yield* TestClock.adjust("10 seconds")
  })

const anomalies = Effect.map(Alerts.recent, (alerts) => alerts.filter((a) => a.kind === "latency_anomaly"))

const layer = (options: Telemetry.TelemetryOptions = {}) =>
  Telemetry.layer({ alerts: { latencyAnomaly: { window: "10 seconds" } }, ...options })

effectTest(
  "a stage whose p95 rises above its baseline raises one latency_anomaly alert per crossing",
  () =>
    Effect.gen(function* () {
      for (let w = 0; w < 6; w++) yield* windowOf("kb_search", 10)
      assert.deepEqual(yield* anomalies, [])
      yield* windowOf("kb_search", 30)
      const [alert, ...others] = yield* anomalies
      assert.equal(others.length, 0)
      assert.equal(alert?.kind, "latency_anomaly")
      if (alert?.kind !== "latency_anomaly") return
      assert.equal(alert.stageId, "kb_search")
      assert.equal(alert.count, 30)
      assert.equal(alert.baselineWindows, 6)
      assert.equal(alert.windowMs, 10_000)
      assert.equal(alert.firstAt, 60_000)
      assert.equal(alert.lastAt, 70_000)
      assert.ok(Math.abs(alert.p95Ms - 33) < 0.5, `p95 ${alert.p95Ms}`)
      assert.ok(Math.abs(alert.baselineMs - 11) < 0.2, `baseline ${alert.baselineMs}`)
      assert.ok(alert.thresholdMs > alert.baselineMs && alert.thresholdMs < alert.p95Ms)
      // Still slow: the same crossing, no second alert.
      yield* windowOf("kb_search", 30)
      assert.equal((yield* anomalies).length, 1)
      // Back to normal re-arms; the next rise alerts again.
      yield* windowOf("kb_search", 10)
      yield* windowOf("kb_search", 40)
      assert.equal((yield* anomalies).length, 2)
      assert.equal(yield* counterValue("stagetrace_latency_anomalies_total", { stage: "kb_search" }), 2)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "latency anomalies need enough samples and baseline windows, and ignore small changes",
  () =>
    Effect.gen(function* () {
      // Four baseline windows are not enough (five are needed).
      for (let w = 0; w < 4; w++) yield* windowOf("auth", 10)
      yield* windowOf("auth", 50)
      assert.deepEqual(yield* anomalies, [])
      // A window with fewer than 20 samples is not judged.
      for (let w = 0; w < 3; w++) yield* windowOf("auth", 10)
      yield* windowOf("auth", 100, 19)
      assert.deepEqual(yield* anomalies, [])
      // A steady stage (MAD near 0) does not alert on a rise under 20%.
      yield* windowOf("auth", 11.5)
      assert.deepEqual(yield* anomalies, [])
      // Other stages keep their own baselines.
      for (let w = 0; w < 5; w++) yield* windowOf("llm", 200)
      yield* windowOf("llm", 210)
      assert.deepEqual(yield* anomalies, [])
    }).pipe(Effect.provide(layer())),
)

effectTest("latency anomalies are logged at warning level", () => {
  const logs = captureLogs()
  return Effect.gen(function* () {
    for (let w = 0; w < 5; w++) yield* windowOf("kb_search", 10)
    yield* windowOf("kb_search", 30)
    yield* Effect.yieldNow
    const line = logs.lines.find((l) => l.annotations["alert.type"] === "latency_anomaly")
    assert.equal(line?.level, "Warn")
    assert.match(line?.message ?? "", /^Latency anomaly: kb_search p95 /)
    assert.equal(line?.annotations["stage.id"], "kb_search")
  }).pipe(Effect.provide(Layer.provideMerge(layer(), logs.layer)))
})

effectTest(
  "Telemetry.layer({ alerts: { latencyAnomaly: false } }) detects nothing",
  () =>
    Effect.gen(function* () {
      for (let w = 0; w < 6; w++) yield* windowOf("kb_search", 10)
      yield* windowOf("kb_search", 100)
      assert.deepEqual(yield* anomalies, [])
    }).pipe(Effect.provide(Telemetry.layer({ alerts: { latencyAnomaly: false } }))),
)

effectTest("invalid latency anomaly options fail the layer naming the option", () =>
  Effect.gen(function* () {
    const build = (latencyAnomaly: Alerts.LatencyAnomalyOptions) =>
      Layer.build(Telemetry.layer({ alerts: { latencyAnomaly } })).pipe(Effect.scoped, Effect.flip)
    assert.equal((yield* build({ window: "0 millis" })).name, "alerts.latencyAnomaly.window")
    assert.equal((yield* build({ baselineWindows: 2 })).name, "alerts.latencyAnomaly.baselineWindows")
    assert.equal(
      (yield* build({ baselineWindows: 4, minBaselineWindows: 5 })).name,
      "alerts.latencyAnomaly.minBaselineWindows",
    )
    assert.equal((yield* build({ madMultiplier: 0 })).name, "alerts.latencyAnomaly.madMultiplier")
    assert.equal((yield* build({ minSamples: 0.5 })).name, "alerts.latencyAnomaly.minSamples")
    assert.equal(
      (yield* build({ minRelativeIncrease: -1 })).name,
      "alerts.latencyAnomaly.minRelativeIncrease",
    )
  }))

effectTest(
  "Telemetry.layerFromEnv reads STAGETRACE_LATENCY_ANOMALY and its window",
  () =>
    Effect.gen(function* () {
      const off = yield* Telemetry.optionsFromEnv({ STAGETRACE_LATENCY_ANOMALY: "false" })
      assert.deepEqual(off.alerts, { latencyAnomaly: false })
      const window = yield* Telemetry.optionsFromEnv({ STAGETRACE_LATENCY_ANOMALY_WINDOW: "30s" })
      assert.deepEqual(window.alerts, { latencyAnomaly: { window: 30_000 } })
      const bad = yield* Effect.flip(Telemetry.optionsFromEnv({ STAGETRACE_LATENCY_ANOMALY_WINDOW: "soon" }))
      assert.equal(bad.name, "STAGETRACE_LATENCY_ANOMALY_WINDOW")
    }),
)

Deno.test("the anomaly bound is median + max(3 × 1.4826 × MAD, 20% of the median, 1 ms)", () => {
  const spread = thresholdOf(defaultAnomalyConfig, [10, 12, 14, 16, 100], 5)
  assert.equal(spread.median, 14)
  assert.equal(spread.mad, 2)
  assert.ok(Math.abs(spread.threshold - (14 + 3 * 1.4826 * 2)) < 1e-9)
  assert.equal(thresholdOf(defaultAnomalyConfig, [50, 50, 50, 50], 4).threshold, 60)
  assert.equal(thresholdOf(defaultAnomalyConfig, [2, 2, 2], 3).threshold, 3)
})
