/**
 * The hot path's clock reads: Effect's default clock read cheaply, any other clock (TestClock) as it is.
 */
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { defaultClock, defaultNow, defaultTimeline, nowNanos, timelineOf } from "../../src/internal/clock.ts"
import { effectTest } from "../_harness.ts"

Deno.test("nowNanos() of the default clock reads the time Effect's default clock reports", () => {
  for (let i = 0; i < 5000; i++) {
    const before = defaultClock.currentTimeNanosUnsafe()
    const now = nowNanos(defaultClock)
    const after = defaultClock.currentTimeNanosUnsafe()
    // Both anchor a monotonic clock to the wall clock; they may differ by the rounding of each anchor.
    assert.ok(now >= before - 2_000_000n && now <= after + 2_000_000n, `${before} <= ${now} <= ${after}`)
  }
})

Deno.test("nowNanos() of the default clock never goes backwards between anchor checks", () => {
  let previous = nowNanos(defaultClock)
  for (let i = 0; i < 5000; i++) {
    const now = nowNanos(defaultClock)
    assert.ok(now >= previous)
    previous = now
  }
})

effectTest(
  "nowNanos() of any other clock is that clock's time (TestClock drives durations)",
  () =>
    Effect.gen(function* () {
      const clock = yield* Clock.Clock
      assert.notEqual(clock, defaultClock)
      yield* TestClock.adjust("1500 millis")
      assert.equal(nowNanos(clock), 1_500_000_000n)
    }),
)

Deno.test("defaultNow() is an instant of the default timeline: whole nanoseconds of Effect's default clock", () => {
  assert.equal(timelineOf(defaultClock), defaultTimeline)
  for (let i = 0; i < 5000; i++) {
    const before = defaultClock.currentTimeNanosUnsafe()
    const at = defaultNow()
    const after = defaultClock.currentTimeNanosUnsafe()
    assert.ok(Number.isInteger(at))
    const nanos = defaultTimeline.nanos(at)
    assert.ok(
      nanos >= before - 2_000_000n && nanos <= after + 2_000_000n,
      `${before} <= ${nanos} <= ${after}`,
    )
  }
})
