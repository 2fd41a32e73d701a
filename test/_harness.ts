/**
 * Test helpers: `effectTest` runs an Effect test scoped, under `TestClock`, with a fresh metric registry;
 * `liveTest` does the same with the real clock (for real I/O); `manualClock` is a clock that only moves
 * when told to, for code that does not run under `TestClock` (promise APIs, generated logs).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"

type Body = () => Effect.Effect<unknown, unknown, Scope.Scope>

const freshRegistry = () => Layer.succeed(Metric.MetricRegistry, new Map())

/** An Effect test under `TestClock` (virtual time starts at 0). */
export const effectTest = (name: string, body: Body, options: Partial<Deno.TestDefinition> = {}): void =>
  Deno.test({
    name,
    ...options,
    fn: () =>
      Effect.runPromise(
        Effect.scoped(body()).pipe(
          Effect.asVoid,
          Effect.provide(Layer.mergeAll(TestClock.layer(), freshRegistry())),
        ) as Effect.Effect<void, unknown>,
      ),
  })

/** An Effect test with the real clock. */
export const liveTest = (name: string, body: Body, options: Partial<Deno.TestDefinition> = {}): void =>
  Deno.test({
    name,
    ...options,
    fn: () =>
      Effect.runPromise(
        Effect.scoped(body()).pipe(Effect.asVoid, Effect.provide(freshRegistry())) as Effect.Effect<
          void,
          unknown
        >,
      ),
  })

/** Forks `effect`, advances the test clock by `duration`, and joins it. */
export const runFor = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  duration: Parameters<typeof TestClock.adjust>[0],
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(duration)
    return yield* Fiber.join(fiber)
  })

/** The core fields of a stage error (the errors concern adds `category` and `retryable`). */
export const typeAndMessage = (
  error: { readonly type: string; readonly message: string } | undefined,
): { type: string; message: string } | undefined =>
  error === undefined ? undefined : { type: error.type, message: error.message }

/** A clock that only moves when told to. */
export interface ManualClock {
  readonly clock: Clock.Clock
  /** Provides `clock` as Effect's `Clock`. */
  readonly layer: Layer.Layer<never>
  /** Moves the clock forward by `ms` milliseconds (fractions kept to the nanosecond). */
  readonly advance: (ms: number) => void
  /** The current time in epoch nanoseconds; assign to jump. */
  nanos: bigint
}

/**
 * A clock at epoch milliseconds `startMillis` that moves only with `advance` (or by assigning `nanos`):
 * deterministic durations wherever `TestClock` cannot drive time. `sleep` never completes unless another is
 * given.
 */
export const manualClock = (
  startMillis: number,
  sleep: Clock.Clock["sleep"] = () => Effect.never,
): ManualClock => {
  const time = { nanos: BigInt(startMillis) * 1_000_000n }
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => Number(time.nanos / 1_000_000n),
    currentTimeMillis: Effect.sync(() => Number(time.nanos / 1_000_000n)),
    currentTimeNanosUnsafe: () => time.nanos,
    currentTimeNanos: Effect.sync(() => time.nanos),
    monotonicTimeNanosUnsafe: () => time.nanos,
    monotonicTimeNanos: Effect.sync(() => time.nanos),
    sleep,
  }
  return {
    clock,
    layer: Layer.succeed(Clock.Clock, clock),
    advance: (ms) => {
      time.nanos += BigInt(Math.round(ms * 1_000_000))
    },
    get nanos() {
      return time.nanos
    },
    set nanos(value) {
      time.nanos = value
    },
  }
}
