import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Request, Stage, Summaries, Telemetry } from "../../mod.ts"
import type { RequestSummary } from "../../src/stage/Request.ts"
import type { StageExecution } from "../../src/stage/Stage.ts"
import { CurrentRecorder, type Recorder } from "../../src/internal/recorder.ts"
import { manualClock } from "../_harness.ts"

/** The parts of a summary that do not depend on ids or absolute times. */
const shape = (summary: RequestSummary | undefined) => {
  assert.ok(summary !== undefined)
  const stage = (s: StageExecution): unknown => ({
    stageId: s.stageId,
    startOffsetMs: s.startOffsetMs,
    durationMs: s.durationMs,
    status: s.status,
    error: s.error?.type,
    recorded: s.recorded === true,
    metadata: s.metadata,
    substages: s.substages.map(stage),
  })
  return {
    name: summary.name,
    durationMs: summary.durationMs,
    status: summary.status,
    error: summary.error?.type,
    stageCount: summary.stageCount,
    stages: summary.stages.map(stage),
    bottlenecks: summary.bottlenecks.map((b) => [b.stageId, b.selfMs, b.share]),
    attributes: summary.attributes,
  }
}

class IndexUnavailable extends Error {
  override readonly name = "IndexUnavailable"
}

Deno.test("Telemetry.makeRuntime gives the same summaries and statistics as the Effect API", async () => {
  // The workload, once as an Effect program…
  const effectClock = manualClock(1_700_000_000_000)
  const tick = (ms: number) => Effect.sync(() => effectClock.advance(ms))
  const effectProgram = Effect.gen(function* () {
    yield* tick(5).pipe(Stage.track("auth_check"))
    yield* Effect.gen(function* () {
      yield* tick(30).pipe(Stage.track("kb_search"))
      yield* tick(10).pipe(Stage.track("kb_rerank"))
    }).pipe(Stage.track("kb_access", { metadata: { index: "docs" } }))
    yield* Effect.fail(new IndexUnavailable("down")).pipe(Stage.track("cache"), Effect.ignore)
    yield* tick(7)
    yield* Stage.record("routing_analysis")
    yield* tick(100).pipe(Stage.track("llm_request"))
    return yield* Effect.void
  }).pipe(Request.track("chat", { requestId: "effect-1", attributes: { tier: "pro" } }))
  const [fromEffect, effectStats] = await Effect.runPromise(
    Effect.gen(function* () {
      yield* effectProgram
      const [summary] = yield* Summaries.recent(1)
      const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      return [summary, [...recorder.stats.entries.keys()].sort()] as const
    }).pipe(Effect.provide(Layer.provideMerge(Telemetry.layer(), effectClock.layer))),
  )

  // …and once through the Promise API.
  const promiseClock = manualClock(1_700_000_000_000)
  const rt = await Telemetry.makeRuntime({ layer: promiseClock.layer })
  try {
    const rerank = rt.instrument("kb_rerank", async (ms: number) => {
      await Promise.resolve()
      promiseClock.advance(ms)
    })
    await rt.request("chat", { requestId: "promise-1", attributes: { tier: "pro" } }, async () => {
      await rt.stage("auth_check", async () => {
        await new Promise((resolve) => setTimeout(resolve, 1))
        promiseClock.advance(5)
      })
      await rt.stage("kb_access", async () => {
        await rt.stage("kb_search", () => promiseClock.advance(30))
        await rerank(10)
      }, { metadata: { index: "docs" } })
      await assert.rejects(
        rt.stage("cache", () => Promise.reject(new IndexUnavailable("down"))),
        IndexUnavailable,
      )
      promiseClock.advance(7)
      await rt.runPromise(Stage.record("routing_analysis"))
      await rt.stage("llm_request", () => promiseClock.advance(100))
    })
    const [fromPromise] = rt.recentSummaries(1)
    assert.deepEqual(shape(fromPromise), shape(fromEffect))
    assert.equal(fromPromise?.requestId, "promise-1")
    assert.deepEqual(rt.allStageStats().map((s) => s.stageId), effectStats)
    assert.equal(rt.stageStats("kb_search")?.count, 1)
    assert.equal(rt.stageStats("kb_search")?.maxMs, 30)
  } finally {
    await rt.dispose()
  }
})

Deno.test("Telemetry.makeRuntime carries the request across await and keeps concurrent requests apart", async () => {
  const rt = await Telemetry.makeRuntime()
  try {
    const handle = (id: string, delay: number) =>
      rt.request("chat", { requestId: id }, async () => {
        await rt.stage(`first_${id}`, () => new Promise((resolve) => setTimeout(resolve, delay)))
        await new Promise((resolve) => setTimeout(resolve, delay))
        await rt.stage(`second_${id}`, async () => {})
        return id
      })
    assert.deepEqual(await Promise.all([handle("a", 5), handle("b", 1)]), ["a", "b"])
    const byId = new Map(rt.recentSummaries().map((s) => [s.requestId, s.stages.map((st) => st.stageId)]))
    assert.deepEqual(byId.get("a"), ["first_a", "second_a"])
    assert.deepEqual(byId.get("b"), ["first_b", "second_b"])
  } finally {
    await rt.dispose()
  }
})

Deno.test("Telemetry.makeRuntime manual lifecycle: startRequest, recordStage, timingScope, endRequest", async () => {
  const clock = manualClock(1_700_000_000_000)
  const rt = await Telemetry.makeRuntime({ layer: clock.layer })
  try {
    assert.equal(rt.startRequest("user-123-query-456", "rag"), true)
    assert.equal(rt.startRequest("user-123-query-456", "rag"), false)
    clock.advance(1500)
    rt.recordStage("user-123-query-456", "retrieval", { metadata: { documents_retrieved: 50 } })
    rt.recordStage("user-123-query-456", "grading", { durationMs: 800 })
    const value = await rt.timingScope("user-123-query-456", "generation", async () => {
      await rt.stage("llm_call", () => clock.advance(2000))
      clock.advance(100)
      return "answer"
    })
    assert.equal(value, "answer")
    assert.equal(rt.openRequests(), 1)
    const summary = await rt.endRequest("user-123-query-456")
    assert.equal(rt.openRequests(), 0)
    assert.equal(summary?.requestId, "user-123-query-456")
    assert.equal(summary?.durationMs, 3600)
    assert.deepEqual(
      summary?.stages.map((s) => [s.stageId, s.durationMs, s.substages.map((x) => x.stageId)]),
      [["retrieval", 1500, []], ["grading", 800, []], ["generation", 2100, ["llm_call"]]],
    )
    assert.deepEqual(summary?.bottlenecks.map((b) => b.stageId), ["llm_call", "retrieval"])
    assert.equal(await rt.endRequest("user-123-query-456"), undefined)

    rt.startRequest("failing", "rag")
    const failed = await rt.endRequest("failing", { error: new IndexUnavailable("down") })
    assert.equal(failed?.status, "error")
    assert.equal(failed?.error?.type, "IndexUnavailable")
  } finally {
    await rt.dispose()
  }
})

Deno.test("Telemetry.makeRuntime recordStage takes the seeds' positional duration", async () => {
  const clock = manualClock(1_700_000_000_000)
  const rt = await Telemetry.makeRuntime({ layer: clock.layer })
  try {
    rt.startRequest("r-1", "rag")
    clock.advance(500)
    rt.recordStage("r-1", "auth_check", 15.3)
    rt.recordStage("r-1", "llm_call", 120, { metadata: { model: "m" } })
    rt.recordStage("r-1", "grading")
    const summary = await rt.endRequest("r-1")
    assert.deepEqual(
      summary?.stages.map((s) => [s.stageId, s.durationMs, s.recorded]),
      [["auth_check", 15.3, true], ["llm_call", 120, true], ["grading", 0, true]],
    )
    assert.deepEqual(summary?.stages[1]?.metadata, { model: "m" })
    const recorder = await rt.runPromise(
      Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder) as Recorder)),
    )
    rt.startRequest("r-2", "rag")
    rt.recordStage("r-2", "untyped", "120" as never)
    rt.recordStage("r-2", "negative", -1)
    assert.equal(recorder.drops.get("invalid_duration"), 2)
    assert.deepEqual((await rt.endRequest("r-2"))?.stages, [])
  } finally {
    await rt.dispose()
  }
})

Deno.test("Telemetry.makeRuntime recordStage and timingScope see requests started with request()", async () => {
  const clock = manualClock(1_700_000_000_000)
  const rt = await Telemetry.makeRuntime({ layer: clock.layer })
  const recorder = await rt.runPromise(
    Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder) as Recorder)),
  )
  try {
    await rt.request("chat", { requestId: "q-1" }, async () => {
      clock.advance(40)
      rt.recordStage("q-1", "kb_access")
      await rt.timingScope("q-1", "llm_request", () => clock.advance(60))
    })
    const [summary] = rt.recentSummaries(1)
    assert.equal(summary?.requestId, "q-1")
    assert.deepEqual(summary?.stages.map((s) => [s.stageId, s.durationMs]), [["kb_access", 40], [
      "llm_request",
      60,
    ]])
    assert.equal(recorder.drops.get("unknown_request_id"), undefined)
    // Once it ended, the id is unknown again (counted).
    rt.recordStage("q-1", "late", 5)
    assert.equal(recorder.drops.get("unknown_request_id"), 1)
    // An id already open with startRequest is not taken over by request(): counted, the request still runs.
    rt.startRequest("dup", "job")
    assert.equal(await rt.request("chat", { requestId: "dup" }, () => 7), 7)
    assert.equal(recorder.drops.get("duplicate_request_id"), 1)
    assert.equal(rt.startRequest("dup", "job"), false)
    await rt.endRequest("dup")
  } finally {
    await rt.dispose()
  }
})

Deno.test("Telemetry.makeRuntime bounds open requests and expires forgotten ones (counted)", async () => {
  const clock = manualClock(1_700_000_000_000)
  const rt = await Telemetry.makeRuntime({
    layer: clock.layer,
    maxOpenRequests: 2,
    openRequestTimeout: "1 minute",
  })
  const recorder = await rt.runPromise(
    Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder) as Recorder)),
  )
  try {
    rt.startRequest("a", "job")
    rt.startRequest("b", "job")
    rt.startRequest("c", "job")
    assert.equal(rt.openRequests(), 2)
    assert.equal(recorder.drops.get("open_request_evicted"), 1)
    clock.advance(61_000)
    rt.startRequest("d", "job")
    assert.equal(rt.openRequests(), 1)
    assert.equal(recorder.drops.get("open_request_expired"), 2)
    assert.equal(rt.expiredRequests(), 3)
    rt.recordStage("a", "late")
    assert.equal(recorder.drops.get("unknown_request_id"), 1)
    // Expired requests still produce summaries, as interrupted.
    await new Promise((resolve) => setTimeout(resolve, 0))
    const statuses = rt.recentSummaries().map((s) => [s.requestId, s.status]).sort()
    assert.deepEqual(statuses, [["a", "interrupted"], ["b", "interrupted"], ["c", "interrupted"]])
  } finally {
    await rt.dispose()
  }
  assert.equal(rt.openRequests(), 0)
})

Deno.test("Telemetry.makeRuntime rejects invalid options with TelemetryConfigError", async () => {
  await assert.rejects(Telemetry.makeRuntime({ bottleneckShare: 2 }), {
    _tag: "TelemetryConfigError",
    name: "bottleneckShare",
  })
  await assert.rejects(Telemetry.makeRuntime({ maxOpenRequests: 0 }), { name: "maxOpenRequests" })
  await assert.rejects(Telemetry.makeRuntime({ openRequestTimeout: "soon" as "1 minute" }), {
    name: "openRequestTimeout",
  })
})

Deno.test("Telemetry.makeRuntime dispose ends open requests, and wrappers keep working afterwards", async () => {
  const rt = await Telemetry.makeRuntime()
  rt.startRequest("open", "job")
  await rt.dispose()
  await rt.dispose()
  assert.equal(rt.openRequests(), 0)
  assert.equal(await rt.request("late", undefined, () => 42), 42)
  assert.equal(await rt.stage("late", () => Promise.resolve("x")), "x")
  assert.equal(rt.startRequest("x", "job"), false)
})
