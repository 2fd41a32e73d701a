/**
 * Tail sampling over stagetrace's own exporting tracer (an exporter installed, Effect's native tracer
 * inside): spans of a request whose decision is pending are held in place by the request's gate, with no
 * proxy span. The same decisions as `tail_test.ts` (which wraps a foreign tracer), read from
 * `Exporter.memory()`.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"
import { TestClock } from "effect/testing"
import { Exporter, Request, Sampler, Stage, Summaries, Telemetry } from "../../mod.ts"
import { LocalSpan } from "../../src/stage/internal/tracking.ts"
import { effectTest } from "../_harness.ts"
import { fiveStageRequests, threeStages, timed } from "./_tail.ts"

type Options = Parameters<typeof Telemetry.layer>[0]

/** Runs `effect` under `Telemetry.layer(options)` exporting to a memory exporter; returns both. */
const exported = <A, E>(effect: Effect.Effect<A, E>, options: Options) =>
  Effect.gen(function* () {
    const memory = Exporter.memory()
    const value = yield* effect.pipe(Effect.provide(Telemetry.layer({ ...options, exporters: [memory] })))
    return { value, memory, names: memory.spans().map((span) => span.name) }
  })

effectTest(
  "gated: a failed request is kept, its held spans exported with their original times",
  () =>
    Effect.gen(function* () {
      const { value: summaries, memory, names } = yield* exported(
        Effect.andThen(
          timed(Effect.exit(threeStages(true).pipe(Request.track("chat")))),
          Summaries.recent(1),
        ),
        { sampler: Sampler.alwaysOff },
      )
      assert.equal(summaries[0]?.keptBecause, "error")
      assert.deepEqual(names, ["auth", "kb", "llm", "chat"])
      const spans = memory.spans()
      assert.deepEqual(spans.map((span) => span.durationMs), [10, 20, 30, 60])
      assert.equal(spans[3]!.attributes["stagetrace.sampling.kept_because"], "error")
      for (const span of spans) assert.equal(span.traceState, undefined)
      // The stages are children of the request span, as exported.
      for (const span of spans.slice(0, 3)) assert.equal(span.parentSpanId, spans[3]!.spanId)
      // Held spans keep what they were created with.
      assert.deepEqual(spans.map((span) => span.kind), ["internal", "internal", "internal", "internal"])
      assert.equal(new Set(spans.map((span) => span.traceId)).size, 1)
    }),
)

effectTest(
  "gated: unsampled successful requests export nothing and count their spans as dropped",
  () =>
    Effect.gen(function* () {
      const { value: stats, names } = yield* exported(
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* timed(threeStages(false).pipe(Request.track("chat")))
          return yield* Sampler.stats
        }),
        { sampler: Sampler.alwaysOff },
      )
      assert.deepEqual(names, [])
      assert.equal(stats.requestsDropped, 5)
      assert.equal(stats.spansDropped, 20)
    }),
)

effectTest(
  "gated: spans of an unsampled request report the head decision to their children",
  () =>
    Effect.gen(function* () {
      const seen: Array<boolean> = []
      const { names } = yield* exported(
        Effect.gen(function* () {
          seen.push((yield* Effect.currentSpan).sampled)
          yield* Effect.gen(function* () {
            seen.push((yield* Effect.currentSpan).sampled)
          }).pipe(Stage.track("auth"))
          return yield* Effect.fail("boom")
        }).pipe(Request.track("chat"), Effect.ignore),
        { sampler: Sampler.alwaysOff },
      )
      assert.deepEqual(seen, [false, false])
      assert.deepEqual(names, ["auth", "chat"])
    }),
)

effectTest(
  "gated: head-sampled and forced requests export at once, without waiting",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      const during: Array<Array<string>> = []
      yield* Effect.gen(function* () {
        yield* Effect.void.pipe(Stage.track("auth"))
        during.push(memory.spans().map((span) => span.name))
      }).pipe(
        Request.track("debug", { force: true }),
        Effect.provide(Telemetry.layer({ sampler: Sampler.alwaysOff, exporters: [memory] })),
      )
      assert.deepEqual(during, [["auth"]])
      assert.deepEqual(memory.spans().map((span) => span.name), ["auth", "debug"])
      assert.equal(memory.spans()[1]!.attributes["stagetrace.sampling.kept_because"], "forced")
    }),
)

effectTest(
  "gated: the buffer is bounded; past tailBufferSize spans are dropped, counted, and truncated",
  () =>
    Effect.gen(function* () {
      const { value, names } = yield* exported(
        fiveStageRequests,
        { sampler: Sampler.alwaysOff, tailBufferSize: 3 },
      )
      const [kept, dropped] = value.summaries
      assert.equal(kept?.truncated, true)
      assert.equal(dropped?.truncated, true)
      assert.deepEqual(names, ["s0", "s1", "s2", "kept"])
      assert.equal(value.stats.spansOverflowed, 4)
      assert.equal(value.drops, 2)
    }),
)

effectTest(
  "gated: spans that end after their request was decided follow the decision",
  () =>
    Effect.gen(function* () {
      const late = (name: string) =>
        Effect.gen(function* () {
          yield* Effect.forkDetach(Effect.sleep("50 millis").pipe(Stage.track(`late-${name}`)))
          if (name === "kept") return yield* Effect.fail("boom")
        }).pipe(Request.track(name), Effect.ignore)
      const { names } = yield* exported(
        Effect.gen(function* () {
          yield* late("kept")
          yield* late("dropped")
          yield* TestClock.adjust("100 millis")
        }),
        { sampler: Sampler.alwaysOff },
      )
      assert.deepEqual(names, ["kept", "late-kept"])
    }),
)

effectTest(
  "gated: spans outside any request follow the sampler directly, and declined ones are counted",
  () =>
    Effect.gen(function* () {
      const off = yield* exported(
        Effect.andThen(Effect.void.pipe(Stage.track("lonely"), Effect.withSpan("root")), Sampler.stats),
        { sampler: Sampler.alwaysOff },
      )
      assert.deepEqual(off.names, [])
      assert.equal(off.value.spansDropped, 2)
      const on = yield* exported(Effect.void.pipe(Stage.track("lonely"), Effect.withSpan("root")), {
        sampler: Sampler.alwaysOn,
      })
      assert.deepEqual(on.names, ["lonely", "root"])
      assert.equal(on.memory.spans()[1]!.traceState, "ot=th:0")
    }),
)

effectTest(
  "gated: sampleRate keeps about that share of requests, every failure, and exactly their spans",
  () =>
    Effect.gen(function* () {
      const { value: summaries, names } = yield* exported(
        Effect.gen(function* () {
          for (let i = 0; i < 1000; i++) {
            yield* Effect.void.pipe(
              Stage.track("work"),
              Effect.andThen(i % 100 === 0 ? Effect.fail("boom") : Effect.void),
              Request.track("chat"),
              Effect.ignore,
            )
          }
          return yield* Summaries.recent(1000)
        }),
        { sampleRate: 0.1, summaryCapacity: 1000 },
      )
      const kept = summaries.filter((s) => s.keptBecause !== undefined)
      assert.ok(summaries.filter((s) => !s.success).every((s) => s.keptBecause !== undefined))
      assert.equal(names.length, kept.length * 2)
    }),
)

effectTest(
  "gated: stage and request spans keep their stage's times (no BigInts until read), other spans are native",
  () =>
    Effect.gen(function* () {
      const seen: Array<Tracer.Span> = []
      const { memory, names } = yield* exported(
        timed(
          Effect.gen(function* () {
            seen.push(yield* Effect.currentSpan)
            yield* Effect.gen(function* () {
              const stage = yield* Effect.currentSpan
              seen.push(stage)
              yield* Effect.sleep("10 millis")
              yield* Effect.sleep("5 millis").pipe(Effect.withSpan("user"))
              // Ended by hand before its stage ends: exported once, with this end time.
              stage.end(stage.status.startTime + 12_000_000n, Exit.void)
              yield* Effect.sleep("8 millis")
            }).pipe(Stage.track("kb"))
            return yield* Effect.fail("boom")
          }).pipe(Request.track("chat"), Effect.ignore),
        ),
        { sampler: Sampler.alwaysOff },
      )
      assert.deepEqual(names, ["user", "kb", "chat"])
      const [request, stage] = seen as [Tracer.Span, Tracer.Span]
      assert.ok(request instanceof LocalSpan && stage instanceof LocalSpan)
      assert.ok(request instanceof Tracer.NativeSpan)
      const spans = memory.spans()
      assert.deepEqual(spans.map((span) => span.durationMs), [5, 12, 23])
      assert.deepEqual(spans.map((span) => span.startTimeNanos), [10_000_000n, 0n, 0n])
      assert.equal(stage.status._tag === "Ended" && stage.status.endTime, 12_000_000n)
      assert.equal(request.status._tag === "Ended" && request.status.endTime, 23_000_000n)
    }),
)
