/**
 * Background loops that live as long as a layer (export channels, summary and log writers, periodic
 * ticks), run on a succession of short-lived fibers instead of one that never ends.
 *
 * Why: under Deno, Effect carries the async context across every suspension of a fiber with a
 * `node:async_hooks` `AsyncResource` created when the fiber suspends. Deno's `AsyncResource` remembers the
 * async context it was created in, and that context holds the resource whose scope it ran in: each
 * resource created in another's scope keeps it alive. A fiber that never ends thus retains one resource per
 * suspension (about 440 bytes): an exporter's loop, suspending a few times per batch, grew the heap without
 * bound (+0.75 MB per 100,000 exported requests). Here every `stepsPerFiber` steps the loop continues on a
 * new fiber started in the scope of one resource created when this module loaded, so the old fiber's chain
 * of resources is released.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"

interface AsyncResourceLike {
  runInAsyncScope<A>(fn: () => A): A
}

/** The resource whose scope new loop fibers start in: created at load, outside any fiber. */
const root: AsyncResourceLike | undefined = (() => {
  try {
    const process = (globalThis as {
      readonly process?: { readonly getBuiltinModule?: (id: string) => unknown }
    }).process
    const hooks = process?.getBuiltinModule?.("node:async_hooks") as
      | { readonly AsyncResource?: new (type: string) => AsyncResourceLike }
      | undefined
    return hooks?.AsyncResource === undefined ? undefined : new hooks.AsyncResource("stagetrace/daemon")
  } catch {
    return undefined
  }
})()

/** Runs `f` in a fresh async context (the root resource's), where there is one. */
const fromRoot = <A>(f: () => A): A => root === undefined ? f() : root.runInAsyncScope(f)

/**
 * Runs `step` again and again while it succeeds with `true`; ends (succeeds) when it returns `false` and
 * fails as it fails. Each run of `stepsPerFiber` steps is a new fiber (see the module description), with
 * the context of the fiber that runs this effect; interrupting that fiber interrupts the loop.
 */
export const loop = <E, R>(
  step: Effect.Effect<boolean, E, R>,
  stepsPerFiber = 32,
): Effect.Effect<void, E, R> =>
  Effect.withFiber((parent) => {
    const done = Deferred.makeUnsafe<void, E>()
    const run: Effect.Effect<boolean, E, R> = Effect.gen(function* () {
      for (let i = 0; i < stepsPerFiber; i++) {
        if (!(yield* step)) return false
      }
      return true
    })
    let current: Fiber.Fiber<boolean, E> | undefined
    let stopped = false
    const start = (): void => {
      const fiber = fromRoot(() => Effect.runForkWith(parent.context as never)(run))
      current = fiber
      fiber.addObserver((exit) => {
        if (stopped) return
        if (Exit.isSuccess(exit)) {
          if (exit.value) start()
          else Deferred.doneUnsafe(done, Exit.void)
        } else Deferred.doneUnsafe(done, Exit.failCause(exit.cause as Cause.Cause<E>))
      })
    }
    start()
    return Deferred.await(done).pipe(
      Effect.onInterrupt(() =>
        Effect.suspend(() => {
          stopped = true
          return current === undefined ? Effect.void : Fiber.interrupt(current)
        })
      ),
    )
  })

/** `Effect.forever(step)`, on a succession of fibers (see `loop`). */
export const forever = <E, R>(step: Effect.Effect<unknown, E, R>): Effect.Effect<never, E, R> =>
  loop(Effect.as(step, true)) as Effect.Effect<never, E, R>
