import assert from "node:assert/strict"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { Request, Stage, StageStats, Summaries, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { effectTest, runFor, typeAndMessage } from "../_harness.ts"
import { recordSpans } from "../_spans.ts"

effectTest("Request.track() keeps 100 concurrent requests apart", () =>
  Effect.gen(function* () {
    const handle = (i: number) =>
      Effect.gen(function* () {
        // Different latencies so that stages of different requests interleave.
        yield* Effect.sleep(`${(i * 7) % 13} millis`).pipe(Stage.track(`auth_${i}`))
        yield* Effect.gen(function* () {
          yield* Effect.sleep(`${(i * 3) % 5} millis`).pipe(Stage.track(`search_${i}`))
        }).pipe(Stage.track(`kb_${i}`))
        yield* Effect.sleep(`${i % 11} millis`).pipe(Stage.track(`llm_${i}`))
        return yield* Request.summary
      }).pipe(Request.track("chat", { requestId: `req-${i}` }))
    const summaries = yield* runFor(
      Effect.all(Array.from({ length: 100 }, (_, i) => handle(i)), { concurrency: "unbounded" }),
      "1 second",
    )
    summaries.forEach((summary, i) => {
      assert.equal(summary.requestId, `req-${i}`)
      assert.deepEqual(summary.stages.map((s) => s.stageId), [`auth_${i}`, `kb_${i}`, `llm_${i}`])
      assert.deepEqual(summary.stages[1]?.substages.map((s) => s.stageId), [`search_${i}`])
      assert.equal(summary.durationMs, ((i * 7) % 13) + ((i * 3) % 5) + (i % 11))
    })
    const stored = yield* Summaries.recent(1000)
    assert.equal(stored.length, 100)
    assert.equal(new Set(stored.map((s) => s.requestId)).size, 100)
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Request.track() generates a UUID request id unless one is given", () =>
  Effect.gen(function* () {
    const generated = yield* Request.summary.pipe(Request.track("a"))
    const given = yield* Request.summary.pipe(Request.track("b", { requestId: "x-42" }))
    assert.match(generated.requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.equal(given.requestId, "x-42")
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Request.track() summarizes the outcome, stages and bottlenecks", () =>
  Effect.gen(function* () {
    yield* runFor(
      Effect.gen(function* () {
        yield* Effect.sleep("10 millis").pipe(Stage.track("auth_check"))
        yield* Effect.gen(function* () {
          yield* Effect.sleep("50 millis").pipe(Stage.track("kb_search"))
          yield* Effect.sleep("5 millis")
        }).pipe(Stage.track("kb_access"))
        yield* Effect.sleep("35 millis").pipe(Stage.track("llm_request"))
      }).pipe(Request.track("chat", { attributes: { route: "/chat" } })),
      "1 second",
    )
    const [summary] = yield* Summaries.recent(1)
    assert.ok(summary)
    assert.equal(summary.name, "chat")
    assert.equal(summary.success, true)
    assert.equal(summary.status, "ok")
    assert.equal(summary.durationMs, 100)
    assert.deepEqual(summary.attributes, { route: "/chat" })
    // kb_access's own time is 5 ms (its sub-stage took 50): only kb_search and llm_request reach 30%.
    assert.deepEqual(summary.bottlenecks, [
      { stageId: "kb_search", name: "kb_search", durationMs: 50, selfMs: 50, share: 0.5 },
      { stageId: "llm_request", name: "llm_request", durationMs: 35, selfMs: 35, share: 0.35 },
    ])
    assert.match(summary.traceId, /^[0-9a-f]{32}$/)
    assert.match(summary.spanId, /^[0-9a-f]{16}$/)
    assert.equal(summary.startTime, 0) // TestClock starts at the epoch
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Request.track() honours the bottleneckShare option", () =>
  Effect.gen(function* () {
    yield* runFor(
      Effect.gen(function* () {
        yield* Effect.sleep("20 millis").pipe(Stage.track("a"))
        yield* Effect.sleep("80 millis").pipe(Stage.track("b"))
      }).pipe(Request.track("r")),
      "1 second",
    )
    const [summary] = yield* Summaries.recent(1)
    assert.deepEqual(summary?.bottlenecks.map((b) => b.stageId), ["b", "a"])
  }).pipe(Effect.provide(Telemetry.layer({ bottleneckShare: 0.1 }))))

effectTest("Request.track() records the failure of a request", () =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(
      Effect.fail({ _tag: "RateLimited", message: "slow down" }).pipe(
        Stage.track("llm_request"),
        Request.track("chat"),
      ),
    )
    assert.ok(Exit.isFailure(exit))
    const [summary] = yield* Summaries.recent(1)
    assert.equal(summary?.success, false)
    assert.equal(summary?.status, "error")
    assert.deepEqual(typeAndMessage(summary?.error), { type: "RateLimited", message: "slow down" })
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Request.track() continues a remote parent", () => {
  const { spans, tracer } = recordSpans()
  return Effect.gen(function* () {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
    const summary = yield* Request.summary.pipe(
      Request.track("chat", {
        parent: { traceId, spanId: "00f067aa0ba902b7", sampled: true, traceState: "ot=th:8" },
        kind: "server",
      }),
    )
    assert.equal(summary.traceId, traceId)
    const span = spans[0]!
    assert.equal(span.kind, "server")
    assert.ok(span.parent._tag === "Some" && span.parent.value.spanId === "00f067aa0ba902b7")
  }).pipe(Effect.withTracer(tracer), Effect.provide(Telemetry.layer()))
})

effectTest(
  "Request.summary fails outside a request and Request.currentId is empty",
  () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Request.summary)
      assert.ok(Cause.isNoSuchElementError(error))
      assert.deepEqual(yield* Request.currentId, Option.none())
      assert.deepEqual(
        yield* Request.currentId.pipe(Request.track("r", { requestId: "abc" })),
        Option.some("abc"),
      )
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest("Request.annotate() adds attributes to the request's summary", () =>
  Effect.gen(function* () {
    const summary = yield* Effect.gen(function* () {
      yield* Request.annotate("tenant", "acme")
      yield* Request.annotate("plan", "pro").pipe(Stage.track("auth"))
      return yield* Request.summary
    }).pipe(Request.track("chat"))
    assert.deepEqual(summary.attributes, { tenant: "acme", plan: "pro" })
    yield* Request.annotate("ignored", true) // outside a request: nothing happens
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "Request.track() truncates summaries past maxStagesPerRequest but keeps statistics",
  () =>
    Effect.gen(function* () {
      const summary = yield* Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* Effect.void.pipe(Stage.track("step"))
        return yield* Request.summary
      }).pipe(Request.track("batch"))
      assert.equal(summary.stageCount, 4)
      assert.equal(summary.stages.length, 4)
      assert.equal(summary.truncated, true)
      assert.equal((yield* StageStats.get("step"))?.count, 10)
    }).pipe(Effect.provide(Telemetry.layer({ maxStagesPerRequest: 4 }))),
)

effectTest("Request.inFlight counts running requests", () =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(
      Effect.all(
        [Effect.sleep("10 millis"), Effect.sleep("20 millis")].map((e) => e.pipe(Request.track("r"))),
        {
          concurrency: "unbounded",
        },
      ),
    )
    yield* Effect.yieldNow
    assert.equal(yield* Request.inFlight, 2)
    yield* TestClock.adjust("15 millis")
    assert.equal(yield* Request.inFlight, 1)
    yield* TestClock.adjust("15 millis")
    yield* Fiber.await(fiber)
    assert.equal(yield* Request.inFlight, 0)
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "Request.summary works whatever the stage metadata holds (functions, class instances)",
  () =>
    Effect.gen(function* () {
      class Model {
        constructor(readonly name: string) {}
      }
      // (Not `onToken`: a key ending with "token" is always masked by the redactor summaries go through.)
      const onChunk = () => "chunk"
      const model = new Model("small")
      const summary = yield* Effect.gen(function* () {
        yield* Effect.void.pipe(Stage.track("llm_request", { metadata: { onChunk, model } }))
        return yield* Request.summary.pipe(Stage.track("formatting"))
      }).pipe(Request.track("chat"))
      assert.equal(summary.stages[0]?.metadata.onChunk, onChunk)
      assert.ok(summary.stages[0]?.metadata.model instanceof Model)
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Request.summary shows the stages still running as running, with the time they have run",
  () =>
    Effect.gen(function* () {
      const summary = yield* runFor(
        Effect.gen(function* () {
          yield* Effect.sleep("10 millis").pipe(Stage.track("auth_check"))
          return yield* Effect.gen(function* () {
            yield* Effect.sleep("5 millis")
            return yield* Request.summary
          }).pipe(Stage.track("llm_request"))
        }).pipe(Request.track("chat")),
        "1 second",
      )
      assert.deepEqual(summary.stages.map((s) => [s.stageId, s.status, s.success, s.durationMs]), [
        ["auth_check", "ok", true, 10],
        ["llm_request", "running", false, 5],
      ])
      assert.equal(summary.status, "running")
      // The stored summary has the final values.
      const [stored] = yield* Summaries.recent(1)
      assert.deepEqual(stored?.stages.map((s) => [s.stageId, s.status, s.durationMs]), [
        ["auth_check", "ok", 10],
        ["llm_request", "ok", 5],
      ])
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Request.track() ignores and counts a malformed remote parent instead of continuing a bad trace",
  () => {
    const { spans, tracer } = recordSpans()
    return Effect.gen(function* () {
      const bad = [
        { traceId: "0".repeat(32), spanId: "00f067aa0ba902b7" },
        { traceId: "4BF92F3577B34DA6A3CE929D0E0E4736", spanId: "00f067aa0ba902b7" },
        { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "xyz" },
        { traceId: "not-a-trace-id", spanId: "0".repeat(16) },
      ]
      for (const parent of bad) {
        const summary = yield* Request.summary.pipe(Request.track("chat", { parent }))
        assert.match(summary.traceId, /^[0-9a-f]{32}$/)
        assert.notEqual(summary.traceId, parent.traceId)
      }
      // A new root each time: nothing continues the malformed trace.
      assert.ok(spans.every((span) => span.parent._tag === "None"))
      const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      assert.equal(recorder.drops.get("invalid_parent"), 4)
    }).pipe(Effect.withTracer(tracer), Effect.provide(Telemetry.layer()))
  },
)

effectTest(
  "Request.track() ignores and counts an invalid budget, as Stage.track does",
  () =>
    Effect.gen(function* () {
      const value = yield* Effect.succeed(1).pipe(
        Request.track("chat", { budget: "soon" as Duration.Input, parent: { traceId: "x", spanId: "y" } }),
      )
      assert.equal(value, 1)
      yield* Effect.void.pipe(Stage.track("auth", { budget: -5 }))
      const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      assert.deepEqual(Object.fromEntries(recorder.drops), { invalid_budget: 2, invalid_parent: 1 })
      const [summary] = yield* Summaries.recent(1)
      assert.equal(summary?.budgetMs, undefined)
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Request.annotate() keeps at most maxRequestAttributes keys per request, counting the rest",
  () =>
    Effect.gen(function* () {
      const summary = yield* Effect.gen(function* () {
        for (let i = 0; i < Request.maxRequestAttributes + 10; i++) yield* Request.annotate(`k${i}`, i)
        yield* Request.annotate("k0", "updated") // an existing key can still change
        return yield* Request.summary
      }).pipe(Request.track("chat"))
      assert.equal(Object.keys(summary.attributes).length, Request.maxRequestAttributes)
      assert.equal(summary.attributes["k0"], "updated")
      const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      assert.equal(recorder.drops.get("request_attributes_full"), 10)
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Request.track() keeps at most 4 KiB of an error message in the summary",
  () =>
    Effect.gen(function* () {
      yield* Effect.exit(
        Effect.fail(new Error("x".repeat(100_000))).pipe(Stage.track("s"), Request.track("r")),
      )
      const [summary] = yield* Summaries.recent(1)
      assert.equal(summary?.error?.message.length, 4096)
      assert.equal(summary?.stages[0]?.error?.message.length, 4096)
      assert.ok(summary?.error?.message.endsWith("…"))
    }).pipe(Effect.provide(Telemetry.layer())),
)
