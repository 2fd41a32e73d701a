/**
 * The times of stages and requests: kept as instants of a timeline on the hot path, they must read as the
 * clock's own nanoseconds on spans (Effect's native tracer) and give exact durations whatever the clock.
 */
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import { Request, Stage, Telemetry } from "../../mod.ts"
import { LocalSpan } from "../../src/stage/internal/tracking.ts"
import { nanosBetween, Timeline, timelineOf } from "../../src/internal/clock.ts"
import { effectTest, runFor } from "../_harness.ts"

/** A stage's span and its status while it ran. */
const spanOfStage = (duration: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const span = yield* Effect.currentSpan
    const running = span.status
    yield* duration
    return { span, running }
  }).pipe(Stage.track("timed"))

const nativeSpanTimes = () =>
  Effect.gen(function* () {
    const { span, running, summary } = yield* runFor(
      Effect.gen(function* () {
        yield* Effect.sleep("5 millis")
        const result = yield* spanOfStage(Effect.sleep("15 millis"))
        return { ...result, summary: yield* Request.summary }
      }).pipe(Request.track("chat")),
      "1 second",
    )
    assert.ok(span instanceof Tracer.NativeSpan)
    assert.deepEqual(running, { _tag: "Started", startTime: 5_000_000n })
    assert.equal(span.status._tag, "Ended")
    assert.equal(span.status.startTime, 5_000_000n)
    assert.equal(span.status._tag === "Ended" && span.status.endTime, 20_000_000n)
    assert.equal(span.status._tag === "Ended" && span.status.exit._tag, "Success")
    assert.equal((span as unknown as { startTime: bigint }).startTime, 5_000_000n)
    assert.equal(summary.stages[0]?.startOffsetMs, 5)
    assert.equal(summary.stages[0]?.durationMs, 15)
    // The request's span reads its start from the same timeline.
    const parent = Option.getOrThrow(span.parent) as Tracer.Span
    assert.equal(parent.status.startTime, 0n)
  })

effectTest(
  "a stage's span under the native tracer is a NativeSpan with the clock's start and end times",
  () => nativeSpanTimes().pipe(Effect.provide(Telemetry.layer())),
)

effectTest("the same without a telemetry layer (Effect's native tracer itself)", nativeSpanTimes)

effectTest(
  "with span timing off, spans read zero times and durations are still measured",
  () =>
    Effect.gen(function* () {
      const { span, summary } = yield* runFor(
        Effect.gen(function* () {
          const result = yield* spanOfStage(Effect.sleep("15 millis"))
          return { ...result, summary: yield* Request.summary }
        }).pipe(Request.track("chat"), Effect.provideService(References.TracerTimingEnabled, false)),
        "1 second",
      )
      assert.equal(span.status.startTime, 0n)
      assert.equal(span.status._tag === "Ended" && span.status.endTime, 0n)
      assert.equal(summary.stages[0]?.durationMs, 15)
    }).pipe(Effect.provide(Telemetry.layer())),
)

/** A clock at epoch nanoseconds (past 2^53) that moves only when told to. */
const epochClock = (start: bigint) => {
  let time = start
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => Number(time / 1_000_000n),
    currentTimeMillis: Effect.sync(() => Number(time / 1_000_000n)),
    currentTimeNanosUnsafe: () => time,
    currentTimeNanos: Effect.sync(() => time),
    monotonicTimeNanosUnsafe: () => time,
    monotonicTimeNanos: Effect.sync(() => time),
    sleep: () => Effect.void,
  }
  return { clock, advance: (nanos: bigint) => Effect.sync(() => void (time += nanos)) }
}

effectTest("a clock at epoch nanoseconds gives exact durations and span times", () => {
  const start = 1_765_000_000_123_456_789n
  const { clock, advance } = epochClock(start)
  return Effect.gen(function* () {
    const { span, summary } = yield* Effect.gen(function* () {
      yield* advance(1_000n)
      const result = yield* spanOfStage(advance(1_234_567n))
      yield* Effect.void.pipe(Stage.track("instant"))
      yield* advance(3_001n)
      // No duration: from the end of the previous stage to now.
      yield* Stage.record("recorded")
      return { ...result, summary: yield* Request.summary }
    }).pipe(Request.track("chat"))
    assert.equal(span.status.startTime, start + 1_000n)
    assert.equal(span.status._tag === "Ended" && span.status.endTime, start + 1_235_567n)
    assert.deepEqual(
      summary.stages.map((s) => [s.stageId, s.startOffsetMs, s.durationMs]),
      [["timed", 0.001, 1.234567], ["instant", 1.235567, 0], ["recorded", 1.235567, 0.003001]],
    )
    assert.equal(summary.startTime, Number(start) / 1e6)
    assert.equal(summary.durationMs, 1.238568)
  }).pipe(Effect.provideService(Clock.Clock, clock), Effect.provide(Telemetry.layer()))
})

Deno.test("timelines: a clock's own, and instants compared across two of them", () => {
  const { clock } = epochClock(1_765_000_000_000_000_000n)
  const timeline = timelineOf(clock)
  assert.equal(timelineOf(clock), timeline)
  assert.equal(timeline.base, 1_765_000_000_000_000_000n)
  const other = new Timeline(1_765_000_000_000_000_500n)
  assert.equal(nanosBetween(timeline, 100, other, 0), 400)
  assert.equal(nanosBetween(other, 0, timeline, 100), -400)
  assert.equal(other.nanos(7), 1_765_000_000_000_000_507n)
})

Deno.test("a LocalSpan made from Effect's span options ends at the BigInt it is given", () => {
  const span = new LocalSpan({
    name: "s",
    parent: Option.none(),
    annotations: Effect.runSync(Effect.context<never>()),
    links: [],
    startTime: 1_765_000_000_000_000_001n,
    kind: "internal",
    sampled: true,
  })
  assert.deepEqual(span.status, { _tag: "Started", startTime: 1_765_000_000_000_000_001n })
  span.attribute("a", 1)
  span.end(1_765_000_000_000_000_042n, Effect.runSyncExit(Effect.void))
  assert.equal(span.status._tag === "Ended" && span.status.endTime, 1_765_000_000_000_000_042n)
  // An ended span takes no more attributes and keeps its first end.
  span.attribute("b", 2)
  span.end(1n, Effect.runSyncExit(Effect.void))
  assert.deepEqual([...span.attributes.keys()], ["a"])
  assert.equal(span.status._tag === "Ended" && span.status.endTime, 1_765_000_000_000_000_042n)
})

effectTest(
  "a stage's span ended early by its holder keeps that end; the stage keeps its own",
  () =>
    Effect.gen(function* () {
      const { span, summary } = yield* runFor(
        Effect.gen(function* () {
          const span = yield* Effect.gen(function* () {
            const span = yield* Effect.currentSpan
            yield* Effect.sleep("5 millis")
            span.end(5_000_000n, Exit.void)
            yield* Effect.sleep("10 millis")
            return span
          }).pipe(Stage.track("early"))
          return { span, summary: yield* Request.summary }
        }).pipe(Request.track("chat")),
        "1 second",
      )
      assert.equal(span.status._tag === "Ended" && span.status.endTime, 5_000_000n)
      assert.equal(summary.stages[0]?.durationMs, 15)
      assert.equal(summary.stages[0]?.status, "ok")
    }).pipe(Effect.provide(Telemetry.layer())),
)
