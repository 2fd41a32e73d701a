/**
 * Reading Effect's `Clock` on the hot path. Effect's default clock computes wall-clock nanoseconds from
 * two clock reads and a handful of BigInt operations per call (≈ 210 ns under Deno). When a fiber runs
 * with that default clock, `nowNanos` reads the same time — a monotonic clock anchored to the wall clock,
 * re-anchored when they drift apart by more than a second, as Effect does — from one `performance.now()`
 * (≈ 100 ns). Any other clock (`TestClock`, a user's) is called as it is, so tests drive every duration.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"

/** Effect's default clock: the value of the `Clock` reference in a context that does not set it. */
export const defaultClock: Clock.Clock = Context.get(Context.empty(), Clock.Clock)

const nanosPerMilli = 1_000_000
const reanchorThresholdMillis = 1000
/** Clock reads between two checks of the anchor against the wall clock. */
const checkEvery = 1024

let originNanos = BigInt(0)
let originMillis = 0
let reads = checkEvery

const anchor = (monotonicMillis: number): void => {
  const wall = Date.now()
  // The whole milliseconds of the origin as a BigInt; the monotonic part stays exact in a double.
  originMillis = Math.round(wall - monotonicMillis)
  originNanos = BigInt(originMillis) * BigInt(nanosPerMilli)
}

/** Wall-clock nanoseconds, as Effect's default clock reports them. */
export const defaultNowNanos = (): bigint => {
  const monotonic = performance.now()
  if (++reads >= checkEvery) {
    // The first read anchors (`reads` starts at `checkEvery`); later checks re-anchor after a wall-clock jump.
    reads = 0
    const skew = Date.now() - (originMillis + monotonic)
    if (originMillis === 0 || skew > reanchorThresholdMillis || skew < -reanchorThresholdMillis) {
      anchor(monotonic)
    }
  }
  return originNanos + BigInt(Math.round(monotonic * nanosPerMilli))
}

/** The current time of `clock` in nanoseconds (`clock.currentTimeNanosUnsafe()`, cheaper for the default). */
export const nowNanos = (clock: Clock.Clock): bigint =>
  clock === defaultClock ? defaultNowNanos() : clock.currentTimeNanosUnsafe()
