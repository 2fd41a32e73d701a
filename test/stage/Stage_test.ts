import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import * as Tracer from "effect/Tracer"
import {
  Exporter,
  MetricCatalogue,
  Metrics,
  Request,
  Stage,
  StageStats,
  Summaries,
  Telemetry,
} from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { effectTest, runFor, typeAndMessage } from "../_harness.ts"
import { recordSpans } from "../_spans.ts"

class KbUnavailable extends Data.TaggedError("KbUnavailable")<{ readonly message: string }> {}

effectTest("Stage.track() measures durations with the Effect clock", () =>
  Effect.gen(function* () {
    const summary = yield* runFor(
      Effect.gen(function* () {
        yield* Effect.sleep("15 millis").pipe(Stage.track("auth_check"))
        yield* Effect.sleep("40 millis").pipe(Stage.track("llm_request"))
        return yield* Request.summary
      }).pipe(Request.track("chat")),
      "1 second",
    )
    assert.deepEqual(
      summary.stages.map((s) => [s.stageId, s.startOffsetMs, s.durationMs]),
      [["auth_check", 0, 15], ["llm_request", 15, 40]],
    )
    assert.equal(summary.durationMs, 55)
    assert.equal(summary.stageCount, 2)
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Stage.track() works data-first and data-last", () =>
  Effect.gen(function* () {
    const a = yield* Stage.track(Effect.succeed(1), "first")
    const b = yield* Effect.succeed(2).pipe(Stage.track("second", { name: "Second stage" }))
    assert.equal(a + b, 3)
    const stats = yield* StageStats.all
    assert.deepEqual(stats.map((s) => s.stageId), ["first", "second"])
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Stage.track() nests a stage inside a stage as a sub-stage", () =>
  Effect.gen(function* () {
    const summary = yield* runFor(
      Effect.gen(function* () {
        yield* Effect.gen(function* () {
          yield* Effect.sleep("5 millis").pipe(Stage.track("kb_embed"))
          yield* Effect.sleep("20 millis").pipe(Stage.track("kb_search"))
        }).pipe(Stage.track("kb_access"))
        yield* Effect.sleep("10 millis").pipe(Stage.track("llm_request"))
        return yield* Request.summary
      }).pipe(Request.track("chat")),
      "1 second",
    )
    assert.deepEqual(summary.stages.map((s) => s.stageId), ["kb_access", "llm_request"])
    const kb = summary.stages[0]!
    assert.equal(kb.durationMs, 25)
    assert.deepEqual(kb.substages.map((s) => [s.stageId, s.startOffsetMs, s.durationMs]), [
      ["kb_embed", 0, 5],
      ["kb_search", 5, 20],
    ])
    // Leaves have no sub-stages of their own (none of their siblings' or cousins').
    assert.deepEqual(kb.substages.map((s) => s.substages.length), [0, 0])
    assert.deepEqual(summary.stages[1]!.substages, [])
    assert.equal(summary.stageCount, 4)
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest("Stage.track() makes child spans with stage and request attributes", () => {
  const { spans, tracer } = recordSpans()
  return Effect.gen(function* () {
    yield* Effect.succeed("ok").pipe(
      Stage.track("auth_check", { name: "Authentication", metadata: { "auth.method": "token" } }),
      Request.track("chat", { requestId: "req-1" }),
    )
    const request = spans.find((s) => s.name === "chat")!
    const stage = spans.find((s) => s.name === "Authentication")!
    assert.equal(stage.parent._tag === "Some" && stage.parent.value.spanId, request.spanId)
    assert.equal(stage.traceId, request.traceId)
    assert.equal(stage.attributes.get("stage.id"), "auth_check")
    assert.equal(stage.attributes.get("stage.name"), "Authentication")
    assert.equal(stage.attributes.get("request.id"), "req-1")
    assert.equal(stage.attributes.get("auth.method"), "token")
    assert.equal(request.attributes.get("request.id"), "req-1")
    assert.equal(stage.status._tag, "Ended")
    assert.ok(stage.status._tag === "Ended" && Exit.isSuccess(stage.status.exit))
  }).pipe(Effect.withTracer(tracer), Effect.provide(Telemetry.layer()))
})

effectTest(
  "Stage.track() is the current span inside the stage, and its request is again after it",
  () =>
    Effect.gen(function* () {
      // Effect.currentSpan reads the fiber's cache of hot references, ParentSpan the context itself.
      const inside = Effect.all([Effect.currentSpan, Effect.currentParentSpan])
      const [request, requestParent] = yield* inside
      const [[stage, stageParent], [child, childParent]] = yield* Effect.all([
        inside,
        inside.pipe(Effect.withSpan("user span")),
      ]).pipe(Stage.track("auth_check"))
      const [after, afterParent] = yield* inside
      assert.equal(request.name, "chat")
      assert.equal(requestParent, request)
      assert.equal(stage.name, "auth_check")
      assert.equal(stageParent, stage)
      assert.equal(child.name, "user span")
      assert.equal(childParent, child)
      assert.equal(child.parent._tag === "Some" ? child.parent.value : undefined, stage)
      assert.equal(after, request)
      assert.equal(afterParent, request)
    }).pipe(Effect.orDie, Request.track("chat"), Effect.provide(Telemetry.layer())),
)

effectTest(
  "Stage.track() under Effect's own tracer: the stage attributes are there when read, first",
  () =>
    Effect.gen(function* () {
      const span = yield* Effect.gen(function* () {
        const span = yield* Effect.currentSpan
        span.attribute("app.step", 1)
        return span
      }).pipe(
        Stage.track("auth_check", { name: "Authentication", metadata: { model: "small" } }),
        Request.track("chat", { requestId: "r-1" }),
      )
      assert.deepEqual([...span.attributes], [
        ["request.id", "r-1"],
        ["stage.id", "auth_check"],
        ["stage.name", "Authentication"],
        ["model", "small"],
        ["app.step", 1],
      ])
    }).pipe(Effect.orDie, Effect.provide(Telemetry.layer())),
)

for (const instrument of [true, false]) {
  effectTest(
    `Stage.track() under Effect's own tracer (instrument: ${instrument}): each stage's span keeps its own name and attributes`,
    () =>
      Effect.gen(function* () {
        const spans: Array<Tracer.Span> = []
        const capture = Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => spans.push(span)))
        yield* Effect.gen(function* () {
          yield* capture.pipe(Stage.track("retrieve"))
          yield* capture.pipe(Stage.track("answer", { metadata: { model: "small" } }))
        }).pipe(Request.track("chat", { requestId: "r-2" }))
        assert.deepEqual(spans.map((span) => [span.name, Object.fromEntries(span.attributes)]), [
          ["retrieve", { "request.id": "r-2", "stage.id": "retrieve", "stage.name": "retrieve" }],
          ["answer", { "request.id": "r-2", "stage.id": "answer", "stage.name": "answer", model: "small" }],
        ])
      }).pipe(Effect.orDie, Effect.provide(Telemetry.layer({ instrument }))),
  )
}

effectTest(
  "Stage.track() records into the recorder of its own context, even one provided inside a stage",
  () =>
    Effect.gen(function* () {
      const other = Context.get(yield* Layer.build(Telemetry.layer()), CurrentRecorder)
      yield* Effect.void.pipe(
        Stage.track("inner"),
        Effect.provideService(CurrentRecorder, other),
        Stage.track("outer"),
        Request.track("chat"),
      )
      const own = (yield* StageStats.all).map((s) => s.stageId)
      assert.deepEqual(own, ["outer"])
      assert.deepEqual([...other.stats.entries.keys()], ["inner"])
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest("Stage.track(): links added to one stage's span stay on that span", () =>
  Effect.gen(function* () {
    const link = {
      span: Tracer.externalSpan({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" }),
      attributes: {},
    }
    const linked = (id: string) =>
      Effect.gen(function* () {
        const span = yield* Effect.currentSpan
        if (id === "a") span.addLinks([link])
        return span
      }).pipe(Stage.track(id))
    for (const layer of [Telemetry.layer(), Telemetry.layer({ exporters: [Exporter.memory()] })]) {
      const [a, b] = yield* Effect.all([linked("a"), linked("b")]).pipe(
        Request.track("chat"),
        Effect.provide(layer),
      )
      assert.deepEqual(a.links, [link])
      assert.deepEqual(b.links, [])
    }
  }).pipe(Effect.orDie))

effectTest("Stage.track() records typed failures, defects and interruptions", () =>
  Effect.gen(function* () {
    const summary = yield* Effect.gen(function* () {
      yield* Effect.exit(Effect.fail(new KbUnavailable({ message: "index offline" })).pipe(Stage.track("kb")))
      yield* Effect.exit(Effect.die(new RangeError("bad offset")).pipe(Stage.track("format")))
      yield* Effect.exit(Effect.interrupt.pipe(Stage.track("cache")))
      return yield* Request.summary
    }).pipe(Request.track("chat"))
    const [kb, format, cache] = summary.stages
    assert.deepEqual([kb?.success, kb?.status, typeAndMessage(kb?.error)], [false, "error", {
      type: "KbUnavailable",
      message: "index offline",
    }])
    assert.deepEqual([format?.status, typeAndMessage(format?.error)], ["error", {
      type: "RangeError",
      message: "bad offset",
    }])
    assert.deepEqual([cache?.status, cache?.error?.type], ["interrupted", "Interrupted"])
    const stats = yield* StageStats.get("kb")
    assert.equal(stats?.successRate, 0)
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "Stage.track() never changes the result or the error of the wrapped effect",
  () =>
    Effect.gen(function* () {
      const ok = yield* Effect.succeed(42).pipe(Stage.track("a"))
      const failed = yield* Effect.exit(Effect.fail("nope").pipe(Stage.track("b")))
      assert.equal(ok, 42)
      assert.deepEqual(failed, Exit.fail("nope"))
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest("Stage.track() outside a request still makes a span and feeds statistics", () => {
  const { spans, tracer } = recordSpans()
  return Effect.gen(function* () {
    yield* runFor(Effect.sleep("8 millis").pipe(Stage.track("warmup")), "10 millis")
    assert.equal(spans.length, 1)
    assert.equal(spans[0]!.attributes.get("stage.id"), "warmup")
    assert.equal(spans[0]!.attributes.has("request.id"), false)
    const stats = yield* StageStats.get("warmup")
    assert.equal(stats?.count, 1)
    assert.equal(stats?.maxMs, 8)
  }).pipe(Effect.withTracer(tracer), Effect.provide(Telemetry.layer()))
})

effectTest("Stage.track() keeps metadata in the summary", () =>
  Effect.gen(function* () {
    const summary = yield* Effect.void.pipe(
      Stage.track("llm_request", { metadata: { model: "small", tokens: 512 } }),
      Effect.andThen(Request.summary),
      Request.track("chat"),
    )
    assert.deepEqual(summary.stages[0]?.metadata, { model: "small", tokens: 512 })
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "Stage.fn() runs every call as a stage and applies pipeables inside it",
  () =>
    Effect.gen(function* () {
      const lookup = Stage.fn("kb_lookup")(
        function* (query: string) {
          yield* Effect.sleep("3 millis")
          return query.toUpperCase()
        },
        (effect) => Effect.map(effect, (s) => `${s}!`),
      )
      const summary = yield* runFor(
        Effect.gen(function* () {
          assert.equal(yield* lookup("a"), "A!")
          assert.equal(yield* lookup("b"), "B!")
          return yield* Request.summary
        }).pipe(Request.track("chat")),
        "1 second",
      )
      assert.deepEqual(summary.stages.map((s) => [s.stageId, s.durationMs]), [["kb_lookup", 3], [
        "kb_lookup",
        3,
      ]])
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Stage.record() without a duration measures from the previous stage's end",
  () =>
    Effect.gen(function* () {
      const summary = yield* runFor(
        Effect.gen(function* () {
          yield* Effect.sleep("7 millis")
          yield* Stage.record("routing_analysis")
          yield* Effect.sleep("10 millis").pipe(Stage.track("redis_cache"))
          yield* Effect.sleep("4 millis")
          yield* Stage.record("response_formatting", { metadata: { format: "markdown" } })
          yield* Stage.record("audit", { durationMs: 2.5, success: false, error: new Error("late") })
          return yield* Request.summary
        }).pipe(Request.track("chat")),
        "1 second",
      )
      assert.deepEqual(
        summary.stages.map((s) => [s.stageId, s.startOffsetMs, s.durationMs, s.success, s.recorded ?? false]),
        [
          ["routing_analysis", 0, 7, true, true],
          ["redis_cache", 7, 10, true, false],
          ["response_formatting", 17, 4, true, true],
          ["audit", 18.5, 2.5, false, true],
        ],
      )
      assert.deepEqual(typeAndMessage(summary.stages[3]?.error), { type: "Error", message: "late" })
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Stage.record() drops and counts invalid durations instead of failing",
  () =>
    Effect.gen(function* () {
      yield* Stage.record("bad", { durationMs: Number.NaN })
      yield* Stage.record("negative", { durationMs: -1 })
      yield* Stage.record("outside_request") // no duration and no request to measure from
      assert.deepEqual(yield* StageStats.all, [])
      const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
      assert.deepEqual(Object.fromEntries(recorder.drops), {
        invalid_duration: 2,
        record_without_duration: 1,
      })
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Stage.track() leaves an unfinished stage marked when its request ends first",
  () =>
    Effect.gen(function* () {
      const background = Effect.sleep("100 millis").pipe(Stage.track("slow_audit"))
      const request = Effect.gen(function* () {
        yield* Effect.forkDetach(background)
        yield* Effect.sleep("10 millis").pipe(Stage.track("reply"))
      }).pipe(Request.track("chat"))
      const fiber = yield* Effect.forkChild(request)
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(fiber)
      const [summary] = yield* Summaries.recent(1)
      // Stages are in start order: the forked fiber starts after the request's own next stage.
      assert.deepEqual(summary?.stages.map((s) => [s.stageId, s.status, s.durationMs]), [
        ["reply", "ok", 10],
        ["slow_audit", "unfinished", 10],
      ])
      yield* TestClock.adjust("200 millis")
      // The published summary is not touched by the late end.
      assert.equal((yield* Summaries.recent(1))[0]?.stages[1]?.status, "unfinished")
      const stats = yield* StageStats.get("slow_audit")
      // The stage still fed statistics when it ended, after its request.
      assert.equal(stats?.count, 1)
      assert.equal(stats?.maxMs, 100)
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Request.track() with an interrupted stage still produces a summary",
  () =>
    Effect.gen(function* () {
      const request = Effect.gen(function* () {
        yield* Effect.sleep("5 millis").pipe(Stage.track("auth_check"))
        yield* Effect.never.pipe(Stage.track("llm_request"))
      }).pipe(Request.track("chat", { requestId: "r-int" }))
      const fiber = yield* Effect.forkChild(request)
      yield* TestClock.adjust("30 millis")
      yield* Fiber.interrupt(fiber)
      const summaries = yield* Summaries.recent(1)
      const summary = summaries[0]!
      assert.equal(summary.requestId, "r-int")
      assert.equal(summary.status, "interrupted")
      assert.deepEqual(summary.stages.map((s) => [s.stageId, s.status, s.durationMs]), [
        ["auth_check", "ok", 5],
        ["llm_request", "interrupted", 25],
      ])
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest("Stage.track() survives error values whose properties throw", () =>
  Effect.gen(function* () {
    const hostile = new Proxy({}, {
      get() {
        throw new Error("trap")
      },
      getPrototypeOf() {
        throw new Error("trap")
      },
    })
    const exit = yield* Effect.exit(Effect.fail(hostile).pipe(Stage.track("hostile"), Request.track("r")))
    assert.equal(exit._tag, "Failure")
    const [summary] = yield* Summaries.recent(1)
    assert.equal(summary?.stages[0]?.error?.type, "Unknown")
    assert.equal(summary?.stages[0]?.success, false)
  }).pipe(Effect.provide(Telemetry.layer())))

// ---------------------------------------------------------------------------------------------------------
// Memory delta
// ---------------------------------------------------------------------------------------------------------

/** Keeps about 8 MB reachable while the stage runs, so the heap grows whatever else runs. */
const allocate = Effect.sync(() => Array.from({ length: 1_000_000 }, (_, i) => i + 0.5))

effectTest(
  "Stage.track(id, { memory: true }) records the heap delta in the summary, on the span and in a histogram",
  () =>
    Effect.gen(function* () {
      const spans = recordSpans()
      const summary = yield* Effect.gen(function* () {
        const kept = yield* allocate.pipe(Stage.track("embed", { memory: true }))
        yield* Effect.void.pipe(Stage.track("plain"))
        yield* Stage.fn("fn_stage", { memory: true })(function* () {
          return yield* allocate
        })()
        const summary = yield* Request.summary
        assert.ok(kept.length > 0)
        return summary
      }).pipe(Request.track("chat"), Effect.provide(Telemetry.layer()), Effect.provide(spans.layer))
      const [embed, plain, fnStage] = summary.stages
      assert.equal(typeof fnStage?.memoryDeltaBytes, "number")
      assert.equal(typeof embed?.memoryDeltaBytes, "number")
      assert.ok(embed!.memoryDeltaBytes! > 1_000_000, String(embed?.memoryDeltaBytes))
      assert.equal(
        spans.byName("embed").attributes.get("stagetrace.memory_delta_bytes"),
        embed!.memoryDeltaBytes,
      )
      // Off by default: no field, no attribute.
      assert.equal("memoryDeltaBytes" in plain!, false)
      assert.equal(spans.byName("plain").attributes.has("stagetrace.memory_delta_bytes"), false)
    }),
)

effectTest(
  "Telemetry.layer({ stageMemory: true }) measures every stage; summaries keep the delta",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        yield* Effect.gen(function* () {
          yield* allocate.pipe(Stage.track("a"))
          yield* Stage.record("recorded", { durationMs: 1 })
        }).pipe(Request.track("chat"))
        const [summary] = yield* Summaries.recent(1)
        const [a, recorded] = summary!.stages
        assert.ok(a!.memoryDeltaBytes! > 1_000_000, String(a?.memoryDeltaBytes))
        // A recorded stage ran elsewhere: nothing to measure.
        assert.equal(recorded?.memoryDeltaBytes, undefined)
        const histogram = yield* Metrics.value(MetricCatalogue.stageMemoryDelta, { stage: "a" })
        assert.equal(histogram?.count, 1)
      }).pipe(Effect.provide(Telemetry.layer({ stageMemory: true })))
      // From the environment too.
      const fromEnv = yield* Effect.gen(function* () {
        yield* Effect.void.pipe(Stage.track("b"), Request.track("chat"))
        return (yield* Summaries.recent(1))[0]?.stages[0]?.memoryDeltaBytes
      }).pipe(Effect.provide(Telemetry.layerFromEnv({ env: { STAGETRACE_STAGE_MEMORY: "true" } })))
      assert.equal(typeof fromEnv, "number")
    }),
)

effectTest(
  "Stage.record() with success: false and no error records a named failure, not 'undefined'",
  () =>
    Effect.gen(function* () {
      yield* Stage.record("audit", { durationMs: 1, success: false }).pipe(Request.track("chat"))
      const [summary] = yield* Summaries.recent(1)
      const stage = summary!.stages[0]!
      assert.equal(stage.success, false)
      assert.equal(stage.error?.type, "RecordedFailure")
      assert.equal(stage.error?.message, "recorded as failed")
      assert.doesNotMatch(Summaries.waterfall(summary!), /undefined/)
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Stage.record() longer than its request so far counts as at most 100% of it",
  () =>
    Effect.gen(function* () {
      yield* runFor(
        Effect.gen(function* () {
          yield* Effect.sleep("10 millis")
          yield* Stage.record("llm_call", { durationMs: 5_000 })
        }).pipe(Request.track("chat")),
        "10 millis",
      )
      const [summary] = yield* Summaries.recent(1)
      const stage = summary!.stages[0]!
      assert.equal(stage.startOffsetMs, -4_990) // it started before its request (a queue, say)
      assert.equal(stage.durationMs, 5_000)
      assert.equal(summary!.bottlenecks[0]?.share, 1)
      assert.equal((yield* StageStats.get("llm_call"))?.maxMs, 5_000) // statistics keep the recorded duration
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "stages nested thousands deep that end together hand their values on",
  () =>
    Effect.gen(function* () {
      let wrapped: Effect.Effect<number> = Effect.sync(() => 1)
      for (let i = 0; i < 5000; i++) wrapped = Stage.track(Effect.map(wrapped, (n) => n + 1), "deep")
      const plain = Effect.gen(function* () {
        let wrappedSync: Effect.Effect<number> = Effect.sync(() => 1)
        for (let i = 0; i < 50_000; i++) wrappedSync = Stage.track(wrappedSync, "deep_sync")
        return yield* wrappedSync
      })
      assert.equal(yield* wrapped, 5001)
      assert.equal(yield* plain, 1)
      const stats = yield* StageStats.get("deep")
      assert.equal(stats?.count, 5000)
    }).pipe(Request.track("chat"), Effect.provide(Telemetry.layer())),
)

effectTest(
  "under a tracer that wraps every step, the code after a stage runs in its parent's wrapper",
  () => {
    const Evaluate = "~effect/Effect/evaluate"
    /** The span the tracer's wrapper of the running step was made for. */
    let wrappedFor: string | undefined
    const tracer = Tracer.make({
      span: (options) => Tracer.nativeTracer.span(options),
      context: (primitive, fiber) => {
        const previous = wrappedFor
        const span = fiber.cache.span
        wrappedFor = span?._tag === "Span" ? span.name : undefined
        try {
          return (primitive as unknown as Record<string, (fiber: unknown) => never>)[Evaluate]!(fiber)
        } finally {
          wrappedFor = previous
        }
      },
    })
    return Effect.gen(function* () {
      const inside = yield* Effect.sync(() => wrappedFor).pipe(Stage.track("inner"))
      // Read by the generator itself, in the step that resumes it after the stage.
      const after = wrappedFor
      assert.deepEqual([inside, after], ["inner", "outer"])
    }).pipe(
      Stage.track("outer"),
      Request.track("chat"),
      Effect.withTracer(tracer),
      Effect.provide(Telemetry.layer()),
    )
  },
)
