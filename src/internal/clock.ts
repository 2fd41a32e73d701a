/**
 * Reading Effect's `Clock` on the hot path. Effect's default clock computes wall-clock nanoseconds from
 * two clock reads and a handful of BigInt operations per call (≈ 210 ns under Deno). When a fiber runs
 * with that default clock, `nowNanos` reads the same time — a monotonic clock anchored to the wall clock,
 * re-anchored when they drift apart by more than a second, as Effect does — from one `performance.now()`
 * (≈ 100 ns). Any other clock (`TestClock`, a user's) is called as it is, so tests drive every duration.
 *
 * Stages and requests keep their times as numbers (`instant`s): whole nanoseconds since the base of a
 * `Timeline`, exact below 2^53 (104 days past the base). BigInt arithmetic costs ≈ 20 ns and an
 * allocation per operation, and a stage needs none of it to measure itself: only a span or a hook that
 * reads an absolute time in nanoseconds (`Timeline.nanos`) makes a BigInt.
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

/**
 * The origin of times on a timeline: an instant `at` is the time `base + at` nanoseconds of the clock it
 * was read from.
 */
export class Timeline {
  /** `base` in milliseconds (for epoch times in milliseconds). */
  readonly baseMillis: number

  constructor(readonly base: bigint) {
    this.baseMillis = Number(base) / nanosPerMilli
  }

  /** The clock time in nanoseconds of the instant `at` (an integer). */
  nanos(at: number): bigint {
    return this.base + BigInt(at)
  }

  /** The clock time in milliseconds of the instant `at`. */
  millis(at: number): number {
    return this.baseMillis + at / nanosPerMilli
  }
}

/** A timeline whose times all read as zero: the span times of a context with span timing off. */
export class UntimedTimeline extends Timeline {
  override nanos(_at: number): bigint {
    return zero
  }
}

const zero = BigInt(0)

/** The timeline of span times when span timing is off (`References.TracerTimingEnabled`). */
export const untimed: Timeline = new UntimedTimeline(zero)

/** The nanoseconds between instant `from` of timeline `a` and instant `to` of timeline `b`. */
export const nanosBetween = (a: Timeline, from: number, b: Timeline, to: number): number =>
  a === b ? to - from : Number(b.base - a.base) + (to - from)

// The default clock's timeline: based on the whole milliseconds of the first anchor.
let originMillis = 0
/** `originMillis - baseMillis`, in nanoseconds: where the current anchor sits on the default timeline. */
let offsetNanos = 0
let reads = 0

const anchor = (monotonicMillis: number): void => {
  // The whole milliseconds of the origin; the monotonic part stays exact in a double.
  originMillis = Math.round(Date.now() - monotonicMillis)
}
anchor(performance.now())
const baseMillis = originMillis

/** The timeline of Effect's default clock. */
export const defaultTimeline: Timeline = new Timeline(BigInt(baseMillis) * BigInt(nanosPerMilli))

/**
 * The current instant of the default clock on `defaultTimeline`. Small enough to be inlined where it is
 * read, so that the instant (a double) reaches its field without a heap number of its own; the check of
 * the anchor is a function apart.
 */
export const defaultNow = (): number => {
  const monotonic = performance.now()
  if (++reads >= checkEvery) checkAnchor(monotonic)
  return offsetNanos + Math.round(monotonic * nanosPerMilli)
}

/** Re-anchors the default timeline after a wall-clock jump (checked every `checkEvery` reads). */
const checkAnchor = (monotonic: number): void => {
  reads = 0
  const skew = Date.now() - (originMillis + monotonic)
  if (skew > reanchorThresholdMillis || skew < -reanchorThresholdMillis) {
    anchor(monotonic)
    offsetNanos = (originMillis - baseMillis) * nanosPerMilli
  }
}

/** Timelines of the clocks other than the default one, made on their first read. */
const timelines = new WeakMap<Clock.Clock, Timeline>()

/**
 * The timeline of `clock`: based at zero for a clock that reads below 2^53 nanoseconds (`TestClock`, so
 * its instants are its times), else at its first reading.
 */
export const timelineOf = (clock: Clock.Clock): Timeline => {
  if (clock === defaultClock) return defaultTimeline
  let timeline = timelines.get(clock)
  if (timeline === undefined) {
    const first = clock.currentTimeNanosUnsafe()
    timeline = new Timeline(first < maxExact ? zero : first)
    timelines.set(clock, timeline)
  }
  return timeline
}

const maxExact = BigInt(Number.MAX_SAFE_INTEGER)

/** The current instant of `clock` on `timeline`, which must be `timelineOf(clock)`. */
export const now = (clock: Clock.Clock, timeline: Timeline): number =>
  clock === defaultClock ? defaultNow() : Number(clock.currentTimeNanosUnsafe() - timeline.base)

/** Wall-clock nanoseconds, as Effect's default clock reports them. */
export const defaultNowNanos = (): bigint => defaultTimeline.nanos(defaultNow())

/** The current time of `clock` in nanoseconds (`clock.currentTimeNanosUnsafe()`, cheaper for the default). */
export const nowNanos = (clock: Clock.Clock): bigint =>
  clock === defaultClock ? defaultNowNanos() : clock.currentTimeNanosUnsafe()
