/**
 * Background loops on a succession of fibers (the workaround for Deno's retained async resources).
 */
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { forever, loop } from "../../src/internal/daemon.ts"
import { effectTest } from "../_harness.ts"

class Name extends Context.Service<Name, string>()("test/Name") {}

effectTest(
  "loop() repeats its step until it returns false, on a new fiber every stepsPerFiber steps",
  () =>
    Effect.gen(function* () {
      const fibers: Array<number> = []
      let n = 0
      yield* loop(
        Effect.sync(() => {
          fibers.push(Fiber.getCurrent()!.id)
          return ++n < 10
        }),
        4,
      )
      assert.equal(n, 10)
      assert.equal(new Set(fibers.slice(0, 4)).size, 1)
      assert.equal(new Set(fibers).size, 3)
    }),
)

effectTest("loop() runs its steps with the caller's context, under TestClock", () =>
  Effect.gen(function* () {
    const seen: Array<string> = []
    const fiber = yield* Effect.forkChild(
      forever(
        Effect.andThen(Effect.sleep("1 second"), Effect.map(Effect.service(Name), (name) => seen.push(name))),
      ),
    ).pipe(Effect.provideService(Name, "exporter"))
    yield* TestClock.adjust("3 seconds")
    assert.deepEqual(seen, ["exporter", "exporter", "exporter"])
    yield* Fiber.interrupt(fiber)
  }))

effectTest("loop() fails as its step fails", () =>
  Effect.gen(function* () {
    let n = 0
    const exit = yield* Effect.exit(
      loop(Effect.suspend(() => ++n === 5 ? Effect.fail("broken") : Effect.succeed(true)), 2),
    )
    assert.deepEqual(exit, Exit.fail("broken"))
    assert.equal(n, 5)
  }))

effectTest(
  "loop(): interrupting the caller interrupts the running step, which finishes its finalizers",
  () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const step = Effect.andThen(Effect.sleep("1 hour"), Effect.succeed(true)).pipe(
        Effect.onInterrupt(() => Effect.sync(() => events.push("step interrupted"))),
      )
      const fiber = yield* Effect.forkChild(loop(step))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.deepEqual(events, ["step interrupted"])
    }),
)
