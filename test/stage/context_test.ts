/**
 * The context a stage runs its effect in: derived from the enclosing one with the stage's span as the
 * parent span (`withParentSpan`, which builds Effect's context and fiber cache itself), it must behave as
 * Effect's own `Context.add` would, at any depth.
 */
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import { Request, Stage, Telemetry } from "../../mod.ts"
import { derivedContextsSupported } from "../../src/stage/internal/tracking.ts"
import { effectTest } from "../_harness.ts"

class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}

Deno.test("stage contexts are built directly under the pinned Effect version", () => {
  assert.equal(derivedContextsSupported, true)
})

/** What an effect sees of its context: its parent span's name, a service, a reference, a child span. */
const observe = Effect.gen(function* () {
  const parent = yield* Effect.currentParentSpan
  const child = yield* Effect.currentSpan.pipe(Effect.withSpan("child"))
  return {
    parent: parent._tag === "Span" ? parent.name : parent.spanId,
    greeting: yield* Greeting,
    level: yield* References.MinimumLogLevel,
    childParent: Option.getOrThrow(child.parent).spanId === parent.spanId,
  }
})

/** `effect` inside `depth` nested stages `s1` … `s<depth>`. */
const nested = <A, E, R>(effect: Effect.Effect<A, E, R>, depth: number): Effect.Effect<A, E, R> => {
  let wrapped = effect
  for (let i = depth; i >= 1; i--) wrapped = Stage.track(wrapped, `s${i}`)
  return wrapped
}

effectTest(
  "inside stages nested deeper than Effect keeps overlays, the context is Effect's own",
  () =>
    Effect.gen(function* () {
      for (const depth of [1, 2, 8, 9, 20]) {
        const seen = yield* nested(observe, depth).pipe(Request.track("chat"))
        assert.deepEqual(seen, { parent: `s${depth}`, greeting: "hello", level: "Warn", childParent: true })
      }
      // Outside the request again: the enclosing context, untouched.
      const outside = yield* Effect.currentParentSpan.pipe(Effect.option)
      assert.equal(Option.isNone(outside), true)
    }).pipe(
      Effect.provideService(Greeting, "hello"),
      Effect.provideService(References.MinimumLogLevel, "Warn" as LogLevel.LogLevel),
      Effect.provide(Telemetry.layer()),
    ),
)

effectTest(
  "a fiber forked in a stage keeps the stage's span after the stage and its siblings end",
  () =>
    Effect.gen(function* () {
      const latch = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkDetach(Deferred.await(latch).pipe(Effect.andThen(observe))).pipe(
        Stage.track("forking"),
      )
      yield* Effect.void.pipe(Stage.track("sibling"))
      yield* Deferred.succeed(latch, undefined)
      const seen = yield* Fiber.join(fiber)
      assert.equal(seen.parent, "forking")
      assert.equal(seen.greeting, "hello")
    }).pipe(
      Request.track("chat"),
      Effect.provideService(Greeting, "hello"),
      Effect.provide(Telemetry.layer()),
    ),
)

effectTest("a service provided inside a stage is seen there, and only there", () =>
  Effect.gen(function* () {
    const inner = yield* Greeting.pipe(Effect.provideService(Greeting, "inner"), Stage.track("a"))
    const outer = yield* Greeting.pipe(Stage.track("b"))
    assert.deepEqual([inner, outer], ["inner", "outer"])
    const span = yield* Effect.currentSpan.pipe(Stage.track("c"))
    assert.equal(span instanceof Tracer.NativeSpan, true)
  }).pipe(
    Request.track("chat"),
    Effect.provideService(Greeting, "outer"),
    Effect.provide(Telemetry.layer()),
  ))

effectTest(
  "a stage's context flattened by Effect's lookups still resolves its span, before and below it",
  () =>
    Effect.gen(function* () {
      const seen = yield* Effect.gen(function* () {
        // Enough reads of a service from the base for Effect to flatten the stage's context in place.
        const context = yield* Effect.context<Greeting>()
        for (let i = 0; i < 256; i++) assert.equal(Context.get(context, Greeting), "hello")
        assert.equal((context as unknown as { overlay: unknown }).overlay, undefined)
        const parent = yield* Effect.currentParentSpan
        // A context Effect derives from the flattened one keeps the stage's span as the parent.
        const derived = Context.add(context, Greeting, "derived")
        const below = Context.getOrUndefined(derived, Tracer.ParentSpan)
        const nestedSeen = yield* observe.pipe(Stage.track("inner"))
        return {
          parent: parent._tag === "Span" ? parent.name : "",
          below: below?._tag === "Span" ? below.name : "",
          greeting: Context.get(derived, Greeting),
          nestedSeen,
        }
      }).pipe(Stage.track("outer"), Request.track("chat"))
      assert.deepEqual(seen, {
        parent: "outer",
        below: "outer",
        greeting: "derived",
        nestedSeen: { parent: "inner", greeting: "hello", level: "Warn", childParent: true },
      })
    }).pipe(
      Effect.provideService(References.MinimumLogLevel, "Warn" as LogLevel.LogLevel),
      // Provided by a layer: in the context's base map, which Effect flattens the overlays into.
      Effect.provide(Layer.merge(Layer.succeed(Greeting, "hello"), Telemetry.layer())),
    ),
)

effectTest(
  "a stage's context is its own fiber cache; a fiber that ends in it keeps a copy without the stage's span",
  () =>
    Effect.gen(function* () {
      const seen = yield* Effect.gen(function* () {
        const context = yield* Effect.context<never>()
        const parent = yield* Effect.currentParentSpan
        const child = yield* Effect.forkChild(Effect.void, { startImmediately: true })
        yield* Fiber.join(child)
        const carrier = context as unknown as { cacheRoot: unknown; _fiberCache: Record<string, unknown> }
        const ended = (child as unknown as { cache: Record<string, unknown> }).cache
        return {
          ownRoot: carrier.cacheRoot === context,
          ownCache: carrier._fiberCache === (context as unknown),
          cacheSpan: carrier._fiberCache.span === parent,
          endedSpan: ended.span,
          endedScheduler: ended.scheduler === carrier._fiberCache.scheduler,
          endedRoot: "cacheRoot" in ended,
        }
      }).pipe(Stage.track("a"), Request.track("chat"))
      assert.deepEqual(seen, {
        ownRoot: true,
        ownCache: true,
        cacheSpan: true,
        endedSpan: undefined,
        endedScheduler: true,
        endedRoot: false,
      })
    }).pipe(Effect.provide(Telemetry.layer())),
)
