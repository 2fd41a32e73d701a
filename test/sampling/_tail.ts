/** Shared by the tail-sampling tests: a three-stage request and a test-clock runner. */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { Request, Sampler, Stage, Summaries } from "../../mod.ts"

/** Three stages of 10, 20 and 30 ms (test clock); fails with "llm down" after them when `fail`. */
export const threeStages = (fail: boolean) =>
  Effect.gen(function* () {
    yield* Effect.sleep("10 millis").pipe(Stage.track("auth"))
    yield* Effect.sleep("20 millis").pipe(Stage.track("kb"))
    yield* Effect.sleep("30 millis").pipe(Stage.track("llm"))
    if (fail) return yield* Effect.fail(new Error("llm down"))
  })

/** Forks `effect`, lets the test clock run `millis`, joins it. */
export const timed = <A, E>(effect: Effect.Effect<A, E>, millis = 1000) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(millis)
    return yield* Fiber.join(fiber)
  })

/**
 * Two requests of five stages each, the first ok ("dropped" under `alwaysOff`), the second failing ("kept");
 * returns the two summaries, the sampler statistics and the `tail_buffer_full` drop count.
 */
export const fiveStageRequests = Effect.gen(function* () {
  const fiveStages = Effect.gen(function* () {
    for (let i = 0; i < 5; i++) yield* Effect.void.pipe(Stage.track(`s${i}`))
  })
  yield* fiveStages.pipe(Request.track("dropped"))
  yield* Effect.andThen(fiveStages, Effect.fail("boom")).pipe(Request.track("kept"), Effect.ignore)
  const recorder = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder)))
  return {
    summaries: yield* Summaries.recent(2),
    stats: yield* Sampler.stats,
    drops: recorder.drops.get("tail_buffer_full"),
  }
})
