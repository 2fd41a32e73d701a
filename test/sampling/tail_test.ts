import assert from "node:assert/strict"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import { CurrentRecorder, ownerOf, requestOf } from "../../src/internal/recorder.ts"
import { Exporter, Request, Sampler, Stage, StageStats, Summaries, Telemetry } from "../../mod.ts"
import { effectTest } from "../_harness.ts"
import { fiveStageRequests, threeStages, timed } from "./_tail.ts"
import { recordSpans, type SpanRecorder } from "../_spans.ts"

type Options = Parameters<typeof Telemetry.layer>[0]

/** Runs `effect` under `Telemetry.layer(options)` whose inner (exporting) tracer is `tracer`. */
const withTelemetry = <A, E>(
  effect: Effect.Effect<A, E>,
  options: Options,
  rec: SpanRecorder,
): Effect.Effect<A, E | Telemetry.TelemetryConfigError> =>
  effect.pipe(Effect.provide(Telemetry.layer(options)), Effect.withTracer(rec.tracer))

effectTest("head-sampled requests export their spans at once with ot=th:0", () =>
  Effect.gen(function* () {
    const rec = recordSpans()
    const program = Effect.gen(function* () {
      yield* Effect.void.pipe(Stage.track("auth"))
      // Already released to the exporter while the request still runs.
      assert.deepEqual(rec.names(), ["auth"])
      return yield* Summaries.recent(1)
    }).pipe(Request.track("chat"))
    const [summary] = yield* withTelemetry(Effect.andThen(program, Summaries.recent(1)), {
      sampler: Sampler.alwaysOn,
    }, rec)
    assert.equal(summary?.sampled, true)
    assert.equal(summary?.keptBecause, "head")
    assert.deepEqual(rec.names(), ["auth", "chat"])
    for (const span of rec.ended) assert.equal(span.traceState, "ot=th:0")
    assert.equal(rec.ended[1]!.attributes.get("stagetrace.sampling.kept_because"), undefined)
    // Exporters find the stage and the request behind each span, as without the tail-sampling proxy.
    assert.equal(ownerOf(rec.ended[0])?._tag, "Stage")
    assert.equal(requestOf(ownerOf(rec.ended[0]))?.name, "chat")
    assert.equal(ownerOf(rec.ended[1])?._tag, "Request")
  }))

effectTest(
  "unsampled successful requests export nothing but stay in Summaries and statistics",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        for (let i = 0; i < 5; i++) yield* timed(threeStages(false).pipe(Request.track("chat")))
        return {
          summaries: yield* Summaries.recent(10),
          stats: yield* StageStats.get("llm"),
          sampling: yield* Sampler.stats,
        }
      })
      const { summaries, stats, sampling } = yield* withTelemetry(
        program,
        { sampler: Sampler.alwaysOff },
        rec,
      )
      assert.deepEqual(rec.names(), [])
      assert.equal(summaries.length, 5)
      for (const summary of summaries) {
        assert.equal(summary.sampled, false)
        assert.equal(summary.keptBecause, undefined)
      }
      assert.equal(stats?.count, 5)
      assert.equal(sampling.requestsDropped, 5)
      assert.equal(sampling.spansDropped, 20)
      // Spans were still created as sampled on the inner tracer, so an exporter would take them if kept.
      assert.ok(rec.spans.every((span) => span.sampled))
    }),
)

effectTest(
  "failed requests are kept: every buffered span is exported with its original times",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        const exit = yield* timed(Effect.exit(threeStages(true).pipe(Request.track("chat"))))
        assert.equal(Exit.isFailure(exit), true)
        return yield* Summaries.recent(1)
      })
      const [summary] = yield* withTelemetry(program, { sampler: Sampler.alwaysOff }, rec)
      assert.equal(summary?.sampled, false)
      assert.equal(summary?.keptBecause, "error")
      assert.deepEqual(rec.names(), ["auth", "kb", "llm", "chat"])
      const times = rec.ended.map((span) =>
        span.status._tag === "Ended" ? Number(span.status.endTime - span.status.startTime) / 1e6 : -1
      )
      assert.deepEqual(times, [10, 20, 30, 60])
      // A tail keep is not a probability sample: no `th` is claimed, and the request span says why.
      for (const span of rec.ended) assert.equal(span.traceState, undefined)
      assert.equal(rec.ended[3]!.attributes.get("stagetrace.sampling.kept_because"), "error")
    }),
)

effectTest(
  "slow requests (at least keepSlowerThan) are kept, faster ones are dropped",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        yield* timed(Effect.sleep("59 millis").pipe(Stage.track("fast"), Request.track("fast")))
        yield* timed(threeStages(false).pipe(Request.track("slow")))
        return yield* Summaries.recent(2)
      })
      const [slow, fast] = yield* withTelemetry(
        program,
        { sampler: Sampler.alwaysOff, keepSlowerThan: "60 millis" },
        rec,
      )
      assert.equal(slow?.keptBecause, "slow")
      assert.equal(fast?.keptBecause, undefined)
      assert.deepEqual(rec.names(), ["auth", "kb", "llm", "slow"])
    }),
)

effectTest("forced requests are kept and report sampled to their children", () =>
  Effect.gen(function* () {
    const rec = recordSpans()
    const program = Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const span = yield* Effect.currentSpan
        assert.equal(span.sampled, true)
        yield* Effect.void.pipe(Stage.track("auth"))
        // Forced at the start: nothing to wait for.
        assert.deepEqual(rec.names(), ["auth"])
      }).pipe(Request.track("debug", { force: true }))
      return yield* Summaries.recent(1)
    })
    const [summary] = yield* withTelemetry(program, { sampler: Sampler.alwaysOff }, rec)
    assert.equal(summary?.sampled, false)
    assert.equal(summary?.keptBecause, "forced")
    assert.deepEqual(rec.names(), ["auth", "debug"])
    assert.equal(rec.ended[1]!.attributes.get("stagetrace.sampling.kept_because"), "forced")
  }))

effectTest(
  "requests over a budget are kept (the budget concern marks the summary before the decision)",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        // Stands in for the budgets concern, whose requestEnd hook runs before the sampling one.
        const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
        recorder.requestEnd.unshift((record, summary) => {
          if (record.name === "over") summary.overBudget = true
        })
        yield* Effect.void.pipe(Stage.track("a"), Request.track("over"))
        yield* Effect.void.pipe(Stage.track("b"), Request.track("within"))
        return yield* Summaries.recent(2)
      })
      const [within, over] = yield* withTelemetry(program, { sampler: Sampler.alwaysOff }, rec)
      assert.equal(over?.keptBecause, "budget")
      assert.equal(within?.keptBecause, undefined)
      assert.deepEqual(rec.names(), ["a", "over"])
    }),
)

effectTest(
  "unsampled requests hide the head decision from children, and their own spans wait too",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        yield* Effect.gen(function* () {
          assert.equal((yield* Effect.currentSpan).sampled, false)
          yield* Effect.gen(function* () {
            assert.equal((yield* Effect.currentSpan).sampled, false)
          }).pipe(Effect.withSpan("user-span"))
          assert.deepEqual(rec.names(), [])
          return yield* Effect.fail("boom")
        }).pipe(Request.track("chat"), Effect.ignore)
      })
      yield* withTelemetry(program, { sampler: Sampler.alwaysOff }, rec)
      assert.deepEqual(rec.names(), ["user-span", "chat"])
    }),
)

effectTest(
  "the tail buffer is bounded: past tailBufferSize spans are dropped, counted, and the summary is truncated",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const { summaries, stats, drops } = yield* withTelemetry(
        fiveStageRequests,
        { sampler: Sampler.alwaysOff, tailBufferSize: 3 },
        rec,
      )
      const [kept, dropped] = summaries
      assert.equal(kept?.truncated, true)
      assert.equal(dropped?.truncated, true)
      // The summary tree itself still has every stage; only the exported spans are missing.
      assert.equal(kept?.stageCount, 5)
      assert.deepEqual(rec.names(), ["s0", "s1", "s2", "kept"])
      assert.equal(stats.spansOverflowed, 4)
      // Only the kept request lost spans an exporter would have received.
      assert.equal(drops, 2)
    }),
)

effectTest(
  "spans that end after their request was decided follow the decision",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const late = (name: string) =>
        Effect.gen(function* () {
          yield* Effect.forkDetach(Effect.sleep("50 millis").pipe(Stage.track(`late-${name}`)))
          if (name === "kept") return yield* Effect.fail("boom")
        }).pipe(Request.track(name), Effect.ignore)
      const program = Effect.gen(function* () {
        yield* late("kept")
        yield* late("dropped")
        yield* TestClock.adjust("100 millis")
      })
      yield* withTelemetry(program, { sampler: Sampler.alwaysOff }, rec)
      assert.deepEqual(rec.names(), ["kept", "late-kept"])
    }),
)

effectTest(
  "without a sampler nothing is buffered or rewritten, and every sampled request is kept as head",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const [summary] = yield* withTelemetry(
        Effect.andThen(Effect.void.pipe(Stage.track("auth"), Request.track("chat")), Summaries.recent(1)),
        {},
        rec,
      )
      assert.equal(summary?.keptBecause, "head")
      assert.deepEqual(rec.names(), ["auth", "chat"])
      for (const span of rec.ended) assert.equal(span.traceState, undefined)
    }),
)

effectTest("spans outside any request follow the sampler directly", () =>
  Effect.gen(function* () {
    const off = recordSpans()
    yield* withTelemetry(Effect.void.pipe(Stage.track("lonely"), Effect.withSpan("root")), {
      sampler: Sampler.alwaysOff,
    }, off)
    assert.deepEqual(off.names(), [])
    const on = recordSpans()
    yield* withTelemetry(Effect.void.pipe(Stage.track("lonely"), Effect.withSpan("root")), {
      sampler: Sampler.alwaysOn,
    }, on)
    assert.deepEqual(on.names(), ["lonely", "root"])
    assert.equal(on.ended[1]!.traceState, "ot=th:0")
  }))

effectTest(
  "a remote parent's decision and tracestate are honoured by the parent-based default",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      const program = Effect.gen(function* () {
        yield* Effect.void.pipe(
          Stage.track("a"),
          Request.track("declined", { parent: { traceId, spanId: "00f067aa0ba902b7", sampled: false } }),
        )
        yield* Effect.void.pipe(
          Stage.track("b"),
          Request.track("accepted", {
            parent: { traceId, spanId: "00f067aa0ba902b7", sampled: true, traceState: "ot=th:8, vendor=x" },
          }),
        )
        yield* Effect.void.pipe(
          Request.track("malformed", {
            parent: { traceId, spanId: "00f067aa0ba902b7", sampled: true, traceState: "Bad Key=1" },
          }),
        )
        const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
        return { summaries: yield* Summaries.recent(3), invalid: recorder.drops.get("invalid_tracestate") }
      })
      const { summaries, invalid } = yield* withTelemetry(program, { sampleRate: 1 }, rec)
      const [malformed, accepted, declined] = summaries
      assert.equal(declined?.sampled, false)
      assert.equal(declined?.traceId, traceId)
      assert.equal(accepted?.sampled, true)
      assert.equal(malformed?.sampled, true)
      assert.deepEqual(rec.names(), ["b", "accepted", "malformed"])
      // R = 0xce929d0e0e4736 ≥ T = 0x80000000000000: the upstream threshold is consistent and kept.
      assert.equal(rec.ended[0]!.traceState, "ot=th:8,vendor=x")
      // A malformed upstream tracestate is discarded and counted.
      assert.equal(rec.ended[2]!.traceState, undefined)
      assert.equal(invalid, 1)
    }),
)

effectTest(
  "a request inside a request inherits the outer decision and tracestate",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        yield* Effect.void.pipe(Request.track("inner"), Request.track("outer"))
        return yield* Summaries.recent(2)
      })
      const [outer, inner] = yield* withTelemetry(program, { sampleRate: 0.5 }, rec)
      assert.equal(inner?.sampled, outer?.sampled)
      assert.equal(rec.ended.length, outer?.sampled ? 2 : 0)
      if (outer?.sampled) assert.equal(rec.ended[0]!.traceState, rec.ended[1]!.traceState)
    }),
)

effectTest(
  "sampleRate samples about that share of requests and keeps every failure on top",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        for (let i = 0; i < 2000; i++) {
          yield* Effect.void.pipe(
            Stage.track("work"),
            Effect.andThen(i % 100 === 0 ? Effect.fail("boom") : Effect.void),
            Request.track("chat"),
            Effect.ignore,
          )
        }
        return { summaries: yield* Summaries.recent(2000), stats: yield* Sampler.stats }
      })
      const { summaries, stats } = yield* withTelemetry(
        program,
        { sampleRate: 0.1, summaryCapacity: 2000 },
        rec,
      )
      const failed = summaries.filter((s) => !s.success)
      assert.equal(failed.length, 20)
      assert.ok(failed.every((s) => s.keptBecause !== undefined))
      const head = summaries.filter((s) => s.sampled).length
      assert.ok(head > 120 && head < 280, `head-sampled ${head} of 2000`)
      assert.equal(stats.requestsKept.head, head)
      assert.equal(stats.requestsKept.head + stats.requestsKept.error + stats.requestsDropped, 2000)
      // Exactly the spans of kept requests reached the exporter.
      const kept = summaries.filter((s) => s.keptBecause !== undefined).length
      assert.equal(rec.ended.length, kept * 2)
    }),
)

effectTest(
  "a hand-written sampler that throws never fails the request: the default decides and it is counted",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const broken: Sampler.Sampler = {
        [Sampler.TypeId]: Sampler.TypeId,
        description: "Broken",
        shouldSample: () => {
          throw new Error("bug in a custom sampler")
        },
      }
      const program = Effect.gen(function* () {
        const value = yield* Effect.succeed(7).pipe(Stage.track("a"), Request.track("chat"))
        const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
        return { value, summaries: yield* Summaries.recent(1), errors: recorder.drops.get("sampler_error") }
      })
      const { value, summaries, errors } = yield* withTelemetry(program, { sampler: broken }, rec)
      assert.equal(value, 7)
      assert.equal(summaries[0]?.sampled, true)
      assert.ok((errors ?? 0) > 0)
      assert.deepEqual(rec.names(), ["a", "chat"])
    }),
)

effectTest(
  "the sampler decides once per request, and a throwing sampler is counted once",
  () =>
    Effect.gen(function* () {
      const inputs: Array<Sampler.SamplingInput> = []
      const counting: Sampler.Sampler = {
        [Sampler.TypeId]: Sampler.TypeId,
        description: "Counting",
        shouldSample: (input) => {
          inputs.push({ ...input })
          return Sampler.alwaysOff.shouldSample(input)
        },
      }
      yield* withTelemetry(
        Effect.void.pipe(Stage.track("a"), Request.track("chat", { requestId: "r-1" })),
        { sampler: counting },
        recordSpans(),
      )
      // One head decision, made with the request's id (stages follow it without asking again).
      assert.deepEqual(inputs.map((input) => [input.name, input.requestId]), [["chat", "r-1"]])

      const broken: Sampler.Sampler = {
        [Sampler.TypeId]: Sampler.TypeId,
        description: "Broken",
        shouldSample: () => {
          throw new Error("bug in a custom sampler")
        },
      }
      const errors = yield* withTelemetry(
        Effect.gen(function* () {
          yield* Effect.void.pipe(Stage.track("a"), Request.track("chat"))
          const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
          return recorder.drops.get("sampler_error")
        }),
        { sampler: broken },
        recordSpans(),
      )
      assert.equal(errors, 1)
    }),
)

effectTest(
  "spans dropped by sampling are never exported, not even as interrupted when the layer closes",
  () =>
    Effect.gen(function* () {
      const memory = Exporter.memory()
      const running = yield* Deferred.make<void>()
      const forever = yield* Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(
            Telemetry.layer({ sampler: Sampler.alwaysOff, exporters: [memory] }),
          )
          return yield* Effect.gen(function* () {
            // Requests dropped by the tail decision: their request span never ends on the exporting tracer.
            for (let i = 0; i < 3; i++) yield* Effect.void.pipe(Stage.track("auth"), Request.track("dropped"))
            // Spans outside any request that the sampler declined.
            yield* Effect.void.pipe(Effect.withSpan("background"))
            const fiber = yield* Effect.forkDetach(
              Effect.andThen(Deferred.succeed(running, undefined), Effect.never).pipe(
                Effect.withSpan("declined-forever"),
              ),
            )
            yield* Deferred.await(running)
            return fiber
          }).pipe(Effect.provideContext(context))
        }),
      )
      assert.deepEqual(memory.spans().map((span) => span.name), [])
      yield* Fiber.interrupt(forever)
    }),
)

effectTest(
  "spans started after a tail keep still report the head decision to their children",
  () =>
    Effect.gen(function* () {
      const rec = recordSpans()
      const seen: Array<boolean> = []
      const program = Effect.gen(function* () {
        yield* Effect.gen(function* () {
          yield* Effect.forkDetach(
            Effect.gen(function* () {
              yield* Effect.sleep("50 millis")
              // The request ended (failed, so kept by the tail decision) before this stage started.
              yield* Effect.gen(function* () {
                seen.push((yield* Effect.currentSpan).sampled)
              }).pipe(Stage.track("late"))
            }),
          )
          return yield* Effect.fail("boom")
        }).pipe(Request.track("chat"), Effect.ignore)
        yield* TestClock.adjust("100 millis")
      })
      yield* withTelemetry(program, { sampler: Sampler.alwaysOff }, rec)
      // Not sampled at the head: children and outgoing calls keep seeing that, as before the decision.
      assert.deepEqual(seen, [false])
      // Still exported with its request.
      assert.deepEqual(rec.names(), ["chat", "late"])
    }),
)

effectTest(
  "a request inside a request follows the outer decision, not its own (deterministic)",
  () =>
    Effect.gen(function* () {
      // Alone, a request named "inner" is never sampled; "outer" always is.
      const sampler = Sampler.parentBased(
        Sampler.rules([{ name: "outer", sampler: Sampler.alwaysOn }], Sampler.alwaysOff),
      )
      const rec = recordSpans()
      const program = Effect.gen(function* () {
        yield* Effect.void.pipe(Stage.track("work"), Request.track("inner"), Request.track("outer"))
        yield* Effect.void.pipe(Request.track("inner"))
        return yield* Summaries.recent(3)
      })
      const [alone, inner, outer] = yield* withTelemetry(program, { sampler }, rec)
      assert.deepEqual([outer?.sampled, inner?.sampled, alone?.sampled], [true, true, false])
      assert.deepEqual(rec.names(), ["work", "inner", "outer"])
      for (const span of rec.ended) assert.equal(span.traceState, "ot=th:0")
    }),
)
