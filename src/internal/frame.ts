/**
 * Running a wrapper (a stage, a request) as one step of Effect's run loop with one frame on the fiber's
 * stack, instead of `Effect.withFiber` + `Effect.onExitPrimitive` (two primitives, a closure context and two
 * closures per run, and one more step of the loop).
 *
 * Effect 4.1's fibers run primitives: objects whose `evaluate` method returns the next effect, and keep a
 * stack of frames whose success (`contA`) and failure (`contE`) methods receive the result of the effect
 * that ran above them — which is how `Effect.onExit` is built. A wrapper here is such a primitive: it pushes
 * a frame (an object of the wrapper's own, that also holds its state) and returns the wrapped effect; the
 * frame's methods close the wrapper and hand the exit on, as `Effect.onExit`'s frame does.
 *
 * These keys and the fiber's stack are Effect's internals. `framesSupported` checks once, by running a
 * probe, that they behave as expected; when they do not (another Effect version), wrappers fall back to
 * `Effect.withFiber` + `Effect.onExitPrimitive` with the same frame object (`runWithFrame`).
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"

/** The key of a primitive's step (Effect 4.1: `~effect/Effect/evaluate`). */
export const evaluateKey = "~effect/Effect/evaluate"
/** The key of a frame's success continuation. */
export const successKey = "~effect/Effect/successCont"
/** The key of a frame's failure continuation. */
export const failureKey = "~effect/Effect/failureCont"
/** The key of what a frame does first when it is popped, whatever the outcome. */
export const ensureKey = "~effect/Effect/ensureCont"

/** A fiber as the run loop sees it (Effect's internals). */
interface LoopFiber {
  interruptible: boolean
  readonly _stack: Array<unknown>
  /** Set once the fiber is asked to stop (delivered when it is interruptible). */
  readonly _interruptedCause: unknown
  readonly cache: { readonly tracerContext?: unknown }
}

/**
 * Effect's frame that makes the fiber interruptible again (and delivers a pending interruption), captured
 * by the probe; `undefined` when the protocol is not supported.
 */
let restoreInterruptible: unknown = undefined

/**
 * A frame on a fiber's stack: `exited` runs when the effect above it ends (with the exit, whatever the
 * outcome) and must not throw; the fiber then goes on with that exit.
 */
export interface Frame {
  exited(fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void
}

/**
 * The base class of frames: what Effect's run loop calls, as it does on `Effect.onExit`'s frame; one of
 * the two continuations forwards to `exited`, which runs uninterruptibly, as `Effect.onExit`'s finalizer
 * does. Effect's own exits pass themselves as the third argument; a value that arrives without one (an
 * `Effect.sync` continuing straight into its caller) gets an exit here, as `Effect.onExit` does.
 *
 * `Effect.onExit`'s frame makes the fiber uninterruptible when it is popped, pushing the frame that
 * restores interruptibility under it (one more frame to push, pop and run per wrapper). A frame here does
 * that only when the fiber is being interrupted: an interruption skips every frame of an interruptible
 * fiber, and this one must run. Otherwise `exited` (synchronous) runs with the fiber uninterruptible for
 * its duration, and the fiber is interruptible again when the exit is handed on — or, if `exited` itself
 * got the fiber interrupted, the restoring frame is pushed then, which delivers the interruption.
 */
export abstract class FrameBase implements Frame {
  abstract exited(fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void

  [ensureKey](fiber: Fiber.Fiber<unknown, unknown>): void {
    const loop = fiber as unknown as LoopFiber
    if (loop.interruptible && loop._interruptedCause !== undefined) {
      loop._stack.push(restoreInterruptible)
      loop.interruptible = false
    }
  }

  [successKey](
    value: unknown,
    fiber: Fiber.Fiber<unknown, unknown>,
    exit?: Exit.Exit<unknown, unknown>,
  ): Exit.Exit<unknown, unknown> {
    // A void result shares Effect's exit of `undefined` (exits are immutable).
    const done = exit ?? (value === undefined ? voidExit : Exit.succeed(value))
    exitUninterruptibly(this, fiber, done)
    return handOn(fiber, done)
  }

  [failureKey](
    cause: Cause.Cause<unknown>,
    fiber: Fiber.Fiber<unknown, unknown>,
    exit?: Exit.Exit<unknown, unknown>,
  ): Exit.Exit<unknown, unknown> {
    const done = exit ?? Exit.failCause(cause)
    exitUninterruptibly(this, fiber, done)
    return done
  }
}

/** The success of `undefined`, shared by the frames of effects that return nothing. */
const voidExit: Exit.Exit<unknown, unknown> = Exit.void

/** How many `handOn`s run inside one another (frames that end together, innermost first). */
let handingOn = 0
/** Past this many, a frame returns its exit to the run loop (bounded recursion, as Effect bounds its own). */
const maxHandingOn = 16

/**
 * The success `done` handed on to the continuation under the frame — what the run loop does with `done`
 * when a continuation returns it (Effect's exits are primitives: `evaluate` passes the value to the next
 * frame), done here without one more turn of the loop. Left to the loop when a tracer wraps every step of
 * the fiber (`tracerContext`: the continuation must run in its wrapper), and past `maxHandingOn` nested
 * hand-overs.
 */
const handOn = (
  fiber: Fiber.Fiber<unknown, unknown>,
  done: Exit.Exit<unknown, unknown>,
): Exit.Exit<unknown, unknown> => {
  if (handingOn >= maxHandingOn || (fiber as unknown as LoopFiber).cache.tracerContext !== undefined) {
    return done
  }
  handingOn++
  try {
    return (done as unknown as Record<
      string,
      (fiber: Fiber.Fiber<unknown, unknown>) => Exit.Exit<unknown, unknown>
    >)[evaluateKey]!(fiber)
  } finally {
    handingOn--
  }
}

/** `frame.exited(fiber, exit)` with `fiber` uninterruptible while it runs (see `FrameBase`). */
const exitUninterruptibly = (
  frame: Frame,
  fiber: Fiber.Fiber<unknown, unknown>,
  exit: Exit.Exit<unknown, unknown>,
): void => {
  const loop = fiber as unknown as LoopFiber
  if (!loop.interruptible) return frame.exited(fiber, exit)
  loop.interruptible = false
  try {
    frame.exited(fiber, exit)
  } finally {
    // Interrupted meanwhile: the restoring frame makes the fiber interruptible and delivers it.
    if (loop._interruptedCause === undefined) loop.interruptible = true
    else loop._stack.push(restoreInterruptible)
  }
}

/** The prototype every Effect primitive shares through its own (`pipe`, `yield*`, the type id). */
const primitiveProto: object = Object.getPrototypeOf(Effect.withFiber(() => Effect.void))

/**
 * Makes `Class` a kind of Effect whose step is its `step(fiber)` method: instances are effects (`pipe`,
 * `yield*`, `Effect.isEffect`) that the run loop evaluates by calling `step`. Call once, when the module
 * loads.
 */
export const definePrimitive = <T extends { step(fiber: Fiber.Fiber<unknown, unknown>): unknown }>(
  Class: { prototype: T },
): void => {
  Object.setPrototypeOf(Class.prototype, primitiveProto)
  Object.defineProperty(Class.prototype, evaluateKey, {
    value: function (this: T, fiber: Fiber.Fiber<unknown, unknown>) {
      return this.step(fiber)
    },
    writable: true,
    configurable: true,
  })
}

/** Pushes `frame` on `fiber`'s stack: its `exited` runs when the effect the caller returns next ends. */
export const pushFrame = (fiber: Fiber.Fiber<unknown, unknown>, frame: Frame): void => {
  ;(fiber as unknown as { readonly _stack: Array<unknown> })._stack.push(frame)
}

/**
 * `self` with `frame` on the stack, through Effect's public combinators (the fallback when frames are not
 * supported): `open` runs once the frame is in place, and its result is the effect that runs above it.
 */
export const runWithFrame = <A, E, R>(
  fiber: Fiber.Fiber<unknown, unknown>,
  frame: Frame,
  open: () => Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.onExitPrimitive(Effect.withFiber(open), (exit) => {
    frame.exited(fiber, exit)
    return undefined
  })

/** A frame that opens what it runs (a stage, a request) once it is on the fiber's stack. */
export interface OpeningFrame<Env, Spec> extends Frame {
  start(fiber: Fiber.Fiber<unknown, unknown>, env: Env, spec: Spec): void
}

/**
 * `self` run above `frame`: the frame pushed on the fiber's stack and opened (`start`), or, when frames are
 * not supported, the same through Effect's public combinators (`runWithFrame`).
 */
export const enterFrame = <A, E, R, Env, Spec>(
  fiber: Fiber.Fiber<unknown, unknown>,
  frame: OpeningFrame<Env, Spec>,
  env: Env,
  spec: Spec,
  self: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> => {
  // No closure here: one written in this function, even in the branch that never runs, would make every
  // call allocate the variables it captures.
  if (!framesSupported) return enterFrameFallback(fiber, frame, env, spec, self)
  pushFrame(fiber, frame)
  frame.start(fiber, env, spec)
  return self
}

/** `enterFrame` through Effect's public combinators (`runWithFrame`), when frames are not supported. */
export const enterFrameFallback = <A, E, R, Env, Spec>(
  fiber: Fiber.Fiber<unknown, unknown>,
  frame: OpeningFrame<Env, Spec>,
  env: Env,
  spec: Spec,
  self: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  runWithFrame(fiber, frame, () => {
    frame.start(fiber, env, spec)
    return self
  })

// ---------------------------------------------------------------------------------------------------------
// The probe
// ---------------------------------------------------------------------------------------------------------

class ProbeFrame extends FrameBase {
  exits: Array<Exit.Exit<unknown, unknown>> = []
  exited(_fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void {
    this.exits.push(exit)
  }
}

class ProbePrimitive<A, E> {
  constructor(readonly self: Effect.Effect<A, E>, readonly frame: ProbeFrame) {}
  step(fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<A, E> {
    pushFrame(fiber, this.frame)
    return this.self
  }
}

/** Whether Effect's run loop follows the protocol above: checked once, with a success and a failure. */
const probe = (): boolean => {
  try {
    if (typeof (Effect.void as unknown as Record<string, unknown>)[evaluateKey] !== "function") return false
    let stackSeen = false
    const stackOk = Effect.withFiber((fiber) => {
      stackSeen = Array.isArray((fiber as unknown as { _stack?: unknown })._stack) &&
        "_interruptedCause" in fiber &&
        (fiber as unknown as LoopFiber)._interruptedCause === undefined
      return Effect.void
    })
    Effect.runSync(stackOk)
    if (!stackSeen) return false
    // Effect.uninterruptible pushes the frame that restores interruptibility: the one to push here.
    Effect.runSync(Effect.uninterruptible(Effect.withFiber((fiber) => {
      const stack = (fiber as unknown as LoopFiber)._stack
      restoreInterruptible = stack[stack.length - 1]
      return Effect.void
    })))
    if (
      typeof restoreInterruptible !== "object" || restoreInterruptible === null ||
      typeof (restoreInterruptible as Record<string, unknown>)[ensureKey] !== "function"
    ) return false
    definePrimitive(ProbePrimitive)
    const frame = new ProbeFrame()
    const wrap = <A, E>(self: Effect.Effect<A, E>) =>
      new ProbePrimitive(self, frame) as unknown as Effect.Effect<A, E>
    const ok = Effect.runSync(Effect.map(wrap(Effect.sync(() => 1)), (n) => n + 1))
    const failed = Effect.runSyncExit(wrap(Effect.fail("probe")))
    // An interrupted fiber still runs the frame, and ends interrupted.
    const fiber = Effect.runFork(wrap(Effect.never))
    fiber.interruptUnsafe()
    const interrupted = fiber.pollUnsafe()
    const [first, second, third] = frame.exits
    return ok === 2 && frame.exits.length === 3 && first !== undefined && Exit.isSuccess(first) &&
      Exit.isFailure(failed) && second !== undefined && Exit.isFailure(second) &&
      third !== undefined && Exit.hasInterrupts(third) && interrupted !== undefined &&
      Exit.hasInterrupts(interrupted)
  } catch {
    return false
  }
}

/** Whether wrappers may run as one primitive with their own frame (see the module description). */
export const framesSupported: boolean = probe()
