/**
 * Wrappers that run as one primitive with their own frame on the fiber's stack (`src/internal/frame.ts`):
 * the frame sees every outcome (success, failure, defect, interruption) exactly once, with the
 * interruptibility `Effect.onExit` gives its finalizers, through the fast path and through the fallback.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import {
  definePrimitive,
  enterFrameFallback,
  FrameBase,
  framesSupported,
  pushFrame,
  runWithFrame,
} from "../../src/internal/frame.ts"
import { effectTest } from "../_harness.ts"

class Recording extends FrameBase {
  readonly exits: Array<Exit.Exit<unknown, unknown>> = []
  interruptibleInside: Array<boolean> = []
  /** Runs opened (`start`, called by `enterFrame`), and how many exits the frame had seen by then. */
  readonly starts: Array<number> = []
  start(): void {
    this.starts.push(this.exits.length)
  }
  exited(fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void {
    this.interruptibleInside.push((fiber as unknown as { interruptible: boolean }).interruptible)
    this.exits.push(exit)
  }
}

class Wrapped<A, E> {
  constructor(readonly self: Effect.Effect<A, E>, readonly frame: Recording) {}
  step(fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<A, E> {
    pushFrame(fiber, this.frame)
    return this.self
  }
}
definePrimitive(Wrapped)

type Wrap = <A, E>(self: Effect.Effect<A, E>, frame: Recording) => Effect.Effect<A, E>

const fast: Wrap = (self, frame) => new Wrapped(self, frame) as unknown as Effect.Effect<never>
const fallback: Wrap = (self, frame) => Effect.withFiber((fiber) => runWithFrame(fiber, frame, () => self))
const openingFallback: Wrap = (self, frame) =>
  Effect.withFiber((fiber) => enterFrameFallback(fiber, frame, undefined, undefined, self))

Deno.test("frames are supported by the pinned Effect (stages and requests take the fast path)", () => {
  assert.equal(framesSupported, true)
})

effectTest(
  "enterFrame's fallback opens the frame before its effect runs, once per run",
  () =>
    Effect.gen(function* () {
      const frame = new Recording()
      const seen: Array<number> = []
      const effect = Effect.sync(() => seen.push(frame.starts.length))
      yield* openingFallback(effect, frame)
      yield* Effect.exit(openingFallback(Effect.andThen(effect, Effect.fail("no")), frame))
      assert.deepEqual(frame.starts, [0, 1])
      assert.deepEqual(seen, [1, 2])
      assert.deepEqual(frame.exits.map((exit) => exit._tag), ["Success", "Failure"])
    }),
)

for (
  const [name, wrap] of [["primitive", fast], ["fallback", fallback], [
    "opening fallback",
    openingFallback,
  ]] as const
) {
  effectTest(
    `${name}: the frame sees a success, a failure and a defect, and hands each on`,
    () =>
      Effect.gen(function* () {
        const frame = new Recording()
        assert.equal(yield* Effect.map(wrap(Effect.succeed(1), frame), (n) => n + 1), 2)
        assert.equal(yield* Effect.map(wrap(Effect.sync(() => 2), frame), (n) => n + 1), 3)
        const failed = yield* Effect.exit(wrap(Effect.fail("no"), frame))
        const died = yield* Effect.exit(wrap(Effect.die("boom"), frame))
        assert.deepEqual(frame.exits.map((exit) => exit._tag), ["Success", "Success", "Failure", "Failure"])
        assert.deepEqual(frame.exits[0], Exit.succeed(1))
        assert.deepEqual(frame.exits[1], Exit.succeed(2))
        assert.deepEqual(failed, Exit.fail("no"))
        assert.ok(Exit.isFailure(died) && Exit.hasDies(died))
        // Like Effect.onExit's finalizer, the frame runs uninterruptibly.
        assert.deepEqual(frame.interruptibleInside, [false, false, false, false])
      }),
  )

  effectTest(
    `${name}: a result of undefined reaches the frame as a success of undefined, and is handed on`,
    () =>
      Effect.gen(function* () {
        const frame = new Recording()
        const handed = yield* Effect.map(wrap(Effect.sync(() => undefined), frame), (value) => [value])
        const sync = yield* Effect.map(wrap(Effect.sync(() => 0), frame), (value) => [value])
        assert.deepEqual([handed, sync], [[undefined], [0]])
        assert.deepEqual(frame.exits, [Exit.void, Exit.succeed(0)])
      }),
  )

  effectTest(
    `${name}: an interrupted effect still reaches its frame, and the fiber ends interrupted`,
    () =>
      Effect.gen(function* () {
        const frame = new Recording()
        const fiber = yield* Effect.forkChild(wrap(Effect.never, frame))
        yield* Effect.yieldNow
        const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
        assert.ok(Exit.hasInterrupts(exit))
        assert.equal(frame.exits.length, 1)
        assert.ok(Exit.hasInterrupts(frame.exits[0]!))
      }),
  )

  effectTest(
    `${name}: the fiber is interruptible after the frame again, or stays uninterruptible as it was`,
    () =>
      Effect.gen(function* () {
        const frame = new Recording()
        const interruptible = Effect.withFiber((fiber) =>
          Effect.succeed((fiber as unknown as { interruptible: boolean }).interruptible)
        )
        assert.equal(yield* wrap(Effect.void, frame).pipe(Effect.andThen(interruptible)), true)
        assert.equal(yield* wrap(Effect.sync(() => 1), frame).pipe(Effect.andThen(interruptible)), true)
        assert.equal(
          yield* wrap(Effect.fail("no"), frame).pipe(Effect.ignore, Effect.andThen(interruptible)),
          true,
        )
        assert.equal(
          yield* Effect.uninterruptible(wrap(Effect.void, frame).pipe(Effect.andThen(interruptible))),
          false,
        )
        assert.deepEqual(frame.interruptibleInside, [false, false, false, false])
        // And an interruption after the frame still stops the fiber.
        const fiber = yield* Effect.forkChild(wrap(Effect.void, frame).pipe(Effect.andThen(Effect.never)))
        yield* Effect.yieldNow
        assert.ok(Exit.hasInterrupts(yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))))
      }),
  )

  effectTest(
    `${name}: a fiber interrupted while its frame runs ends interrupted once the frame is done`,
    () =>
      Effect.gen(function* () {
        const frame = new Recording()
        const after: Array<string> = []
        frame.exited = function (fiber, exit) {
          Recording.prototype.exited.call(this, fiber, exit)
          fiber.interruptUnsafe()
        }
        const exit = yield* Effect.exit(
          wrap(Effect.succeed(1), frame).pipe(Effect.andThen(Effect.sync(() => after.push("ran on")))),
        ).pipe(Effect.forkChild, Effect.flatMap(Fiber.await))
        assert.equal(frame.exits.length, 1)
        assert.ok(Exit.isSuccess(frame.exits[0]!))
        assert.ok(Exit.hasInterrupts(exit))
        assert.deepEqual(after, [])
      }),
  )

  effectTest(
    `${name}: nested frames close innermost first; the effect runs again with each run`,
    () =>
      Effect.gen(function* () {
        const outer = new Recording()
        const inner = new Recording()
        const order: Array<string> = []
        outer.exited = function (fiber, exit) {
          order.push("outer")
          Recording.prototype.exited.call(this, fiber, exit)
        }
        inner.exited = function (fiber, exit) {
          order.push("inner")
          Recording.prototype.exited.call(this, fiber, exit)
        }
        const program = wrap(wrap(Effect.succeed("x"), inner), outer)
        yield* program
        yield* program
        assert.deepEqual(order, ["inner", "outer", "inner", "outer"])
      }),
  )
}
