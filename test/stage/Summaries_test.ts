import assert from "node:assert/strict"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { Request, Stage, Summaries, Telemetry } from "../../mod.ts"
import { stagesPerSummary, SummaryStore } from "../../src/internal/summaryStore.ts"
import type { StageExecution } from "../../src/stage/Stage.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { effectTest } from "../_harness.ts"

const request = (id: string, stages = 1) =>
  Effect.gen(function* () {
    for (let i = 0; i < stages; i++) yield* Stage.record(`s${i}`, { durationMs: i + 1, metadata: { i } })
  }).pipe(Request.track("chat", { requestId: id }))

effectTest(
  "Summaries.recent() returns the newest summaries first, up to the ring's capacity",
  () =>
    Effect.gen(function* () {
      for (let i = 0; i < 7; i++) yield* request(`r${i}`)
      assert.deepEqual((yield* Summaries.recent(3)).map((s) => s.requestId), ["r6", "r5", "r4"])
      assert.deepEqual((yield* Summaries.recent()).map((s) => s.requestId), ["r6", "r5", "r4", "r3", "r2"])
      assert.deepEqual(yield* Summaries.recent(0), [])
      assert.deepEqual(yield* Summaries.size, { held: 5, total: 7 })
    }).pipe(Effect.provide(Telemetry.layer({ summaryCapacity: 5 }))),
)

effectTest("Summaries.recent() gives back the stage tree as it was recorded", () =>
  Effect.gen(function* () {
    const live = yield* Effect.gen(function* () {
      yield* Effect.gen(function* () {
        yield* Stage.record("kb_embed", { durationMs: 3 })
        yield* Stage.record("kb_search", { durationMs: 4, success: false, error: new TypeError("bad query") })
      }).pipe(Stage.track("kb_access", { metadata: { index: "docs" } }))
      yield* Stage.record("llm_request", { durationMs: 9 })
      return yield* Request.summary
    }).pipe(Request.track("chat", { requestId: "tree", attributes: { tenant: "acme" } }))
    const [stored] = yield* Summaries.recent(1)
    assert.ok(stored)
    assert.deepEqual(stored.stages, live.stages)
    assert.deepEqual(stored.attributes, { tenant: "acme" })
    assert.equal(stored.stages[0]?.substages[1]?.error?.type, "TypeError")
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "Summaries evict requests whose stages were overwritten, keeping memory bounded",
  () =>
    Effect.gen(function* () {
      // Capacity 2 keeps 2 × stagesPerSummary stage slots; three requests of that many stages do not fit.
      for (let i = 0; i < 3; i++) yield* request(`big${i}`, stagesPerSummary)
      const held = yield* Summaries.recent(10)
      assert.deepEqual(held.map((s) => s.requestId), ["big2", "big1"])
      yield* request("huge", stagesPerSummary * 2)
      assert.deepEqual((yield* Summaries.recent(10)).map((s) => s.requestId), ["huge"])
      assert.equal((yield* Summaries.recent(1))[0]?.stageCount, stagesPerSummary * 2)
    }).pipe(Effect.provide(Telemetry.layer({ summaryCapacity: 2, maxStagesPerRequest: 1000 }))),
)

effectTest("Summaries.stream() follows requests completing after it starts", () =>
  Effect.gen(function* () {
    yield* request("before")
    const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(Summaries.stream(), 2)))
    yield* Effect.yieldNow
    yield* request("one")
    yield* request("two")
    const collected = yield* Fiber.join(fiber)
    assert.deepEqual(collected.map((s) => s.requestId), ["one", "two"])
  }).pipe(Effect.provide(Telemetry.layer())))

Deno.test("SummaryStore keeps sub-stages nested after 2^31 stage executions", () => {
  const store = new SummaryStore(4) // A long-running service gets there: 10,000 stages a second for two and a half days.
  ;(store as unknown as { stageTotal: number }).stageTotal = 2 ** 31 - 1
  const stage = (stageId: string, substages: Array<StageExecution> = []): StageExecution => ({
    stageId,
    name: stageId,
    startOffsetMs: 0,
    durationMs: 1,
    success: true,
    status: "ok",
    metadata: {},
    substages,
  })
  const stages = [
    stage("kb_access", [stage("kb_embed"), stage("kb_search", [stage("rerank")])]),
    stage("llm"),
  ]
  store.add({
    requestId: "r",
    name: "chat",
    traceId: "0".repeat(32),
    spanId: "0".repeat(16),
    startTime: 0,
    durationMs: 4,
    success: true,
    status: "ok",
    stageCount: 5,
    stages,
    bottlenecks: [],
    attributes: {},
    truncated: false,
    overBudget: false,
    sampled: true,
    keptBecause: "head",
  }, 0.3)
  const [summary] = store.recent(1)
  const tree = (list: ReadonlyArray<StageExecution>): Array<unknown> =>
    list.map((s) => [s.stageId, tree(s.substages)])
  assert.deepEqual(tree(summary!.stages), tree(stages))
})

effectTest(
  "Summaries.stream() counts what a slow subscriber could not take as a drop",
  () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const seen: Array<string> = []
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(
          Summaries.stream({ bufferSize: 1 }),
          (summary) =>
            Effect.andThen(Effect.sync(() => seen.push(summary.requestId)), Deferred.await(release)),
        ),
      )
      yield* Effect.yieldNow
      for (let i = 0; i < 5; i++) yield* request(`r${i}`)
      const recorder = yield* Effect.withFiber((f) => Effect.succeed(f.getRef(CurrentRecorder)))
      // The requests complete without yielding, so the subscriber's buffer (one summary) took the first and
      // the other four were dropped, and counted.
      assert.equal(recorder.drops.get("summary_stream_full"), 4)
      yield* Effect.yieldNow
      assert.deepEqual(seen, ["r0"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Summaries keep a request without stages for as long as the request ring holds it",
  () =>
    Effect.gen(function* () {
      // Capacity 3 keeps 3 × stagesPerSummary stage slots: the two big requests overwrite each other's
      // stages, but the request without stages has nothing to lose.
      yield* request("health", 0)
      yield* request("big1", stagesPerSummary * 2)
      yield* request("big2", stagesPerSummary * 2)
      assert.deepEqual((yield* Summaries.recent(10)).map((s) => s.requestId), ["big2", "health"])
      assert.deepEqual(yield* Summaries.size, { held: 2, total: 3 })
    }).pipe(Effect.provide(Telemetry.layer({ summaryCapacity: 3, maxStagesPerRequest: 1000 }))),
)

effectTest("Summaries.stream() stays bounded whatever bufferSize it is given", () =>
  Effect.gen(function* () {
    const release = yield* Deferred.make<void>()
    const sizes = [Number.NaN, Infinity, -1]
    const received = sizes.map(() => 0)
    const fibers = []
    for (const [i, bufferSize] of sizes.entries()) {
      fibers.push(
        yield* Effect.forkChild(
          Stream.runForEach(
            Summaries.stream({ bufferSize }),
            () => Effect.andThen(Effect.sync(() => received[i]!++), Deferred.await(release)),
          ),
        ),
      )
    }
    yield* Effect.yieldNow
    for (let i = 0; i < 2100; i++) yield* request(`r${i}`)
    yield* Deferred.succeed(release, undefined)
    for (let i = 0; i < 20; i++) yield* Effect.yieldNow
    // Sizes that are not a finite number ≥ 0 mean the default (1024): a subscriber holds at most the batch
    // it is working through and a full buffer, and the rest is dropped and counted.
    for (const count of received) assert.ok(count >= 1024 && count <= 2 * 1024, `received ${count}`)
    const recorder = yield* Effect.withFiber((f) => Effect.succeed(f.getRef(CurrentRecorder)))
    assert.equal(recorder.drops.get("summary_stream_full"), 3 * 2100 - received.reduce((a, b) => a + b))
    for (const fiber of fibers) yield* Fiber.interrupt(fiber)
  }).pipe(Effect.provide(Telemetry.layer())))

Deno.test("SummaryStore keeps a stage's heap delta only where one was measured, across ring growth", () => {
  const store = new SummaryStore(200)
  const summaryOf = (requestId: string, memoryDeltaBytes: number | undefined) => ({
    requestId,
    name: "chat",
    traceId: "0".repeat(32),
    spanId: "0".repeat(16),
    startTime: 0,
    durationMs: 1,
    success: true,
    status: "ok" as const,
    stageCount: 1,
    stages: [{
      stageId: "s",
      name: "s",
      startOffsetMs: 0,
      durationMs: 1,
      success: true,
      status: "ok" as const,
      metadata: {},
      substages: [],
      ...(memoryDeltaBytes === undefined ? {} : { memoryDeltaBytes }),
    }],
    bottlenecks: [],
    attributes: {},
    truncated: false,
    overBudget: false,
    sampled: true,
    keptBecause: "head" as const,
  })
  // Before the column exists, then measured ones among unmeasured ones, past the first growth (256 slots).
  const deltas = Array.from(
    { length: 300 },
    (_, i) => (i >= 10 && i % 3 === 0 ? i * 1000 - 50_000 : undefined),
  )
  deltas.forEach((delta, i) => store.add(summaryOf(`r${i}`, delta), 0.3))
  const read = new Map(store.recent(200).map((s) => [s.requestId, s.stages[0]!]))
  for (let i = 100; i < 300; i++) {
    const stage = read.get(`r${i}`)!
    if (deltas[i] === undefined) assert.equal("memoryDeltaBytes" in stage, false, `r${i}`)
    else assert.equal(stage.memoryDeltaBytes, deltas[i], `r${i}`)
  }
})
