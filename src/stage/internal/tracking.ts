/**
 * The hot path: `Stage.track`, `Stage.record` and `Request.track`. Everything here is synchronous and
 * bounded; one clock read per boundary, one span per stage, no stack traces, no effects run on the way.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import {
  CurrentAttachment,
  CurrentRecorder,
  type MutableStageExecution,
  outcomeOf,
  OwnerKey,
  ownerOf,
  type Recorder,
  requestOf,
  type RequestRecord,
  requestSpanAnnotations,
  setOwner,
  type StageHandles,
  type StageNode,
  stageSpanAnnotations,
} from "../../internal/recorder.ts"
import { isValidSpanId, isValidTraceId } from "../../internal/grammar.ts"
import { defaultTimeline, nanosBetween, now, Timeline, timelineOf, untimed } from "../../internal/clock.ts"
import {
  definePrimitive,
  enterFrame,
  FrameBase,
  framesSupported,
  type OpeningFrame,
} from "../../internal/frame.ts"
import {
  keepsNoOptions,
  makesLocalSpans,
  noLinks,
  ownLinks,
  takesSpanTimes,
} from "../../internal/spanOptions.ts"
import {
  deferAttribute,
  type DeferredStage,
  type DeferringSpan,
  deferStageAttributes,
  isDeferring,
  materializeStageAttributes,
} from "../../internal/stageAttributes.ts"
import { disabledByEnvironment } from "../../internal/killSwitch.ts"
import type { RequestOptions, RequestSummary } from "../../internal/requestModel.ts"
import { bottlenecksOf } from "../../internal/bottlenecks.ts"
import type { StageError, StageExecution, StageOptions } from "../../internal/stageModel.ts"

// ---------------------------------------------------------------------------------------------------------
// Specs: everything about a stage that is known when the wrapper is built
// ---------------------------------------------------------------------------------------------------------

/**
 * A stage's static description, computed once per `Stage.track` / `Stage.fn` call site, with the handles
 * that end hooks cache on it (`StageHandles`).
 */
export interface StageSpec extends StageHandles {
  readonly stageId: string
  readonly name: string
  readonly metadata: Readonly<Record<string, unknown>>
  readonly metadataKeys: ReadonlyArray<string>
  readonly budgetMs: number | undefined
  readonly kind: Tracer.SpanKind
  /** Why an option was ignored, if one was (reported as a counted drop when the stage runs). */
  readonly invalid: string | undefined
  /**
   * Whether the span attributes can be deferred (`stageAttributes.ts`): no metadata key overrides
   * `request.id`, `stage.id` or `stage.name`.
   */
  readonly deferrable: boolean
}

const stageAttributeKeys: ReadonlySet<string> = new Set(["request.id", "stage.id", "stage.name"])

const emptyMetadata: Readonly<Record<string, unknown>> = Object.freeze({})

/** Decodes a `Duration.Input` budget to milliseconds; `undefined` when absent, `NaN` when invalid. */
export const budgetToMillis = (budget: Duration.Input | undefined): number | undefined => {
  if (budget === undefined) return undefined
  const decoded = Duration.fromInput(budget)
  if (Option.isNone(decoded)) return Number.NaN
  const ms = Duration.toMillis(decoded.value)
  return ms >= 0 && ms !== Infinity ? ms : Number.NaN
}

/**
 * Specs of stages built without options, by stage id: `Stage.track("id")` written inside a handler builds
 * its wrapper on every request. Bounded; ids past the bound get a fresh spec each time.
 */
const plainSpecs = new Map<string, StageSpec>()
const maxPlainSpecs = 1024

/** `build(key, options)`, kept in `plain` (up to `maxPlainSpecs` keys) and shared when there are no options. */
const sharedSpec = <O, S>(
  plain: Map<string, S>,
  build: (key: string, options: O | undefined) => S,
  key: string,
  options: O | undefined,
): S => {
  if (options !== undefined) return build(key, options)
  const cached = plain.get(key)
  if (cached !== undefined) return cached
  const spec = build(key, undefined)
  if (plain.size < maxPlainSpecs) plain.set(key, spec)
  return spec
}

/** The static description of a stage (shared by every wrapper of an id built without options). */
export const makeSpec = (stageId: string, options: StageOptions | undefined): StageSpec =>
  sharedSpec(plainSpecs, buildSpec, stageId, options)

const buildSpec = (stageId: string, options: StageOptions | undefined): StageSpec => {
  const budgetMs = budgetToMillis(options?.budget)
  const metadata = options?.metadata ?? emptyMetadata
  return {
    stageId,
    name: options?.name ?? stageId,
    metadata,
    metadataKeys: Object.keys(metadata),
    budgetMs: budgetMs !== undefined && Number.isNaN(budgetMs) ? undefined : budgetMs,
    kind: options?.kind ?? "internal",
    invalid: budgetMs !== undefined && Number.isNaN(budgetMs) ? "invalid_budget" : undefined,
    deferrable: !Object.keys(metadata).some((key) => stageAttributeKeys.has(key)),
    statsStore: undefined,
    statsEntry: undefined,
    seriesOwner: undefined,
    okSeries: undefined,
  }
}

// ---------------------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------------------

const bigint0 = BigInt(0)
const noAnnotations: Context.Context<never> = Context.empty()
const noParent: Option.Option<Tracer.AnySpan> = Option.none()

/**
 * What a stage needs from the fiber's context. Contexts are immutable, so the values are resolved once per
 * context object: sequential stages of a request start from the same context and skip eight lookups.
 */
export interface Resolved {
  readonly context: unknown
  readonly recorder: Recorder
  readonly clock: Clock.Clock
  /** The timeline of `clock` (see `clock.ts`). */
  readonly timeline: Timeline
  readonly tracer: Tracer.Tracer
  /** Whether `tracer` never keeps the options it is given (see `spanOptions.ts`). */
  readonly optionsNotKept: boolean
  /** Whether `tracer` makes stagetrace's own spans `LocalSpan`s (see `spanOptions.ts`). */
  readonly localSpans: boolean
  /** Whether `tracer` reads span times from `LocalSpanOptions.times` (`LocalSpan`s, see `spanOptions.ts`). */
  readonly takesTimes: boolean
  readonly tracerEnabled: boolean
  readonly timingEnabled: boolean
  readonly links: ReadonlyArray<Tracer.SpanLink>
  readonly annotations: Readonly<Record<string, unknown>>
  readonly hasAnnotations: boolean
  /** Whether a span with no sampled parent is sampled by trace level. */
  readonly sampledByLevel: boolean
}

let lastResolved: Resolved | undefined

/** Where the fiber cache of a stage's or request's context keeps its `Resolved` (see `withParentSpan`). */
const ResolvedEnv: unique symbol = Symbol.for("@stagetrace/stagetrace/resolved")

/**
 * The resolved context values of `fiber`: those of the stage or request whose context it runs in (kept in
 * that context's fiber cache, so concurrent requests do not evict each other), else a one-entry cache
 * keyed by the context object.
 */
export const resolve = (fiber: Fiber.Fiber<unknown, unknown>): Resolved => {
  const context = fiber.context
  // Valid only for the very context the cache was made for (its own cache root): a reference provided
  // inside a stage makes a context that shares the cache but may resolve differently.
  const kept = (fiber.cache as { readonly [ResolvedEnv]?: Resolved })[ResolvedEnv]
  if (kept !== undefined && (context as CacheCarrier).cacheRoot === context) return kept
  if (lastResolved !== undefined && lastResolved.context === context) return lastResolved
  const tracerEnabled = fiber.cache.tracerEnabled
  const annotations = fiber.getRef(References.TracerSpanAnnotations)
  let hasAnnotations = false
  for (const _ in annotations) {
    hasAnnotations = true
    break
  }
  const recorder = fiber.getRef(CurrentRecorder)
  // A layer of this context that hooks into whichever recorder runs here (Log.layer's lifecycle records).
  fiber.getRef(CurrentAttachment)?.attachTo(recorder)
  const clock = fiber.getRef(Clock.Clock)
  const tracer = tracerEnabled ? fiber.cache.tracer ?? Tracer.nativeTracer : Tracer.nativeTracer
  const native = tracer === Tracer.nativeTracer
  lastResolved = {
    context,
    recorder,
    clock,
    timeline: timelineOf(clock),
    tracer,
    optionsNotKept: native || keepsNoOptions(tracer),
    localSpans: native || makesLocalSpans(tracer),
    takesTimes: native || makesLocalSpans(tracer) || takesSpanTimes(tracer),
    tracerEnabled,
    timingEnabled: fiber.getRef(References.TracerTimingEnabled),
    links: fiber.getRef(References.TracerSpanLinks),
    annotations,
    hasAnnotations,
    sampledByLevel: !LogLevel.isGreaterThan(
      fiber.getRef(Tracer.MinimumTraceLevel),
      fiber.getRef(Tracer.CurrentTraceLevel),
    ),
  }
  return lastResolved
}

/** The times of a span: instants of a timeline. */
export interface SpanTimes {
  /** The timeline of the times (`untimed` when span timing is off). */
  readonly timeline: Timeline
  /** When the span started, an instant of `timeline`. */
  readonly startAt: number
  /** When the span ended, an instant of `timeline` (`NaN` until it has). */
  readonly endAt: number
}

/** The times of a span that has no stage to share them with (see `LocalSpan`). */
class OwnTimes implements SpanTimes {
  endAt: number = Number.NaN
  constructor(readonly timeline: Timeline, readonly startAt: number) {}
}

/**
 * The options of a `LocalSpan`: Effect's, or (from `makeSpan`) the span's times, which a stage's span
 * shares with its stage (`StageRun`).
 */
export interface LocalSpanOptions {
  readonly name: string
  readonly parent: Option.Option<Tracer.AnySpan>
  readonly annotations: Context.Context<never>
  readonly links: Array<Tracer.SpanLink>
  readonly startTime: bigint
  readonly kind: Tracer.SpanKind
  readonly sampled: boolean
  readonly times?: SpanTimes | undefined
}

/**
 * The spans of stages and requests under Effect's native tracer (no exporter installed): spans that behave
 * as Effect's `NativeSpan`s (and are `instanceof Tracer.NativeSpan`), but keep their times as instants of a
 * timeline and make the BigInts of `startTime` and `status` only when read, defer their stage attributes
 * until read (see `stageAttributes.ts`), and carry the stagetrace owner as a declared field.
 */
export class LocalSpan implements Tracer.Span, DeferringSpan {
  /** On the prototype (see below). */
  declare readonly _tag: "Span"
  readonly name: string
  readonly parent: Option.Option<Tracer.AnySpan>
  readonly annotations: Context.Context<never>
  readonly links: Array<Tracer.SpanLink>
  readonly kind: Tracer.SpanKind
  readonly sampled: boolean
  _traceId: string | undefined = undefined
  _spanId: string | undefined = undefined
  _attributes: Map<string, unknown> | undefined = undefined
  _events: Array<[name: string, startTime: bigint, attributes: Record<string, unknown>]> | undefined =
    undefined;
  [OwnerKey]: unknown = undefined
  deferredStage: DeferredStage | undefined = undefined
  deferredRequestId: string | undefined = undefined
  deferredPairs: Array<unknown> | undefined = undefined
  /**
   * The span's times: a stage's span reads those of its stage (which the stage sets when it ends, before
   * it ends its span), other spans have their own.
   */
  times: SpanTimes
  /** The exit the span ended with; `undefined` while it runs. */
  exit: Exit.Exit<unknown, unknown> | undefined = undefined

  constructor(options: LocalSpanOptions) {
    this.name = options.name
    this.parent = options.parent
    this.annotations = options.annotations
    this.links = options.links
    this.kind = options.kind
    this.sampled = options.sampled
    this.times = options.times ?? new OwnTimes(new Timeline(options.startTime), 0)
  }

  declare readonly traceId: string
  declare readonly spanId: string
  declare readonly events: Array<[name: string, startTime: bigint, attributes: Record<string, unknown>]>

  get attributes(): Map<string, unknown> {
    return materializeStageAttributes(this)
  }

  get startTime(): bigint {
    const times = this.times
    return times.timeline.nanos(times.startAt)
  }

  get status(): Tracer.SpanStatus {
    // Made on each read: spans are seldom read, and never on the hot path.
    const times = this.times
    const startTime = times.timeline.nanos(times.startAt)
    const exit = this.exit
    return exit === undefined
      ? { _tag: "Started", startTime }
      : { _tag: "Ended", startTime, endTime: times.timeline.nanos(times.endAt), exit }
  }

  /**
   * Ends the span at instant `at` of `timeline`: the end its stage already has, when it shares its stage's
   * times.
   */
  close(timeline: Timeline, at: number, exit: Exit.Exit<unknown, unknown>): void {
    if (this.exit !== undefined) return
    const times = this.times
    if (times instanceof OwnTimes) {
      times.endAt = timeline === times.timeline ? at : Number(timeline.nanos(at) - times.timeline.base)
    }
    this.exit = exit
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.exit !== undefined) return
    let times = this.times
    // Ended before its stage (by whoever holds the span): from now on, times of its own.
    if (!(times instanceof OwnTimes)) this.times = times = new OwnTimes(times.timeline, times.startAt)
    ;(times as OwnTimes).endAt = Number(endTime - times.timeline.base)
    this.exit = exit
  }

  attribute(key: string, value: unknown): void {
    if (this.exit !== undefined) return
    // Written into the map when it is read (see `stageAttributes.ts`): most spans never are.
    deferAttribute(this, key, value)
  }

  event(name: string, startTime: bigint, attributes?: Record<string, unknown>): void {
    if (this.exit !== undefined) return
    this.events.push([name, startTime, attributes ?? {}])
  }

  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    if (this.exit !== undefined) return
    ownLinks(this)
    this.links.push(...links)
  }
}
// `traceId`, `spanId` and `events` come from `NativeSpan` (they read the same fields), and so does
// `instanceof Tracer.NativeSpan`.
Object.setPrototypeOf(LocalSpan.prototype, Tracer.NativeSpan.prototype)
Object.defineProperty(LocalSpan.prototype, "_tag", { value: "Span", enumerable: true })

let lastParent: Tracer.AnySpan | undefined
let lastParentOption: Option.Option<Tracer.AnySpan> = noParent

/**
 * `Option.some(parent)`, shared by consecutive spans of the same parent (the stages of a request): an
 * `Option` is immutable. Holds on to one span at most, until a span with another parent is created.
 */
const parentOption = (parent: Tracer.AnySpan): Option.Option<Tracer.AnySpan> => {
  if (parent !== lastParent) {
    lastParent = parent
    lastParentOption = Option.some(parent)
  }
  return lastParentOption
}

type SpanOptions = {
  -readonly [K in keyof Parameters<Tracer.Tracer["span"]>[0]]: Parameters<Tracer.Tracer["span"]>[0][K]
}

/**
 * The options object reused for spans of tracers that keep none (`LocalSpan`s, stagetrace's exporting
 * tracer); `scratchInUse` guards against a tracer that creates a span while creating one.
 */
const scratch: SpanOptions & { times: SpanTimes | undefined } = {
  name: "",
  parent: Option.none(),
  annotations: noAnnotations,
  links: noLinks,
  startTime: bigint0,
  kind: "internal",
  root: true,
  sampled: false,
  times: undefined,
}
let scratchInUse = false

/**
 * Creates a span the way `Effect.withSpan` does (same tracer, parent, annotations, links and trace-level
 * sampling), without capturing a stack trace. Stage spans carry `stageSpanAnnotations` and request spans
 * `requestSpanAnnotations`, so tracers can tell stagetrace's own spans from others.
 */
export const makeSpan = (
  env: Resolved,
  name: string,
  kind: Tracer.SpanKind,
  parent: Tracer.AnySpan | undefined,
  startNanos: bigint,
  annotations: Context.Context<never> = stageSpanAnnotations,
): Tracer.Span => createSpan(env, name, kind, parent, new Timeline(startNanos), 0, annotations, undefined)

/**
 * `makeSpan` starting at instant `startAt` of `timeline`; a `LocalSpan` shares `stage`'s times (which
 * must be these) when there is a stage, and timing is on.
 */
const createSpan = (
  env: Resolved,
  name: string,
  kind: Tracer.SpanKind,
  parent: Tracer.AnySpan | undefined,
  timeline: Timeline,
  startAt: number,
  annotations: Context.Context<never>,
  stage: SpanTimes | undefined,
): Tracer.Span => {
  const tracer = env.tracer
  const reuse = !scratchInUse && env.optionsNotKept
  // Tracers whose spans are `LocalSpan`s made from these options (which then keep the timeline and instant).
  const local = reuse && env.takesTimes
  // The span such a tracer would make, made here (the instrument tracer makes it under any parent but the
  // proxies of the requests it adopted).
  const direct = local && env.localSpans &&
    (tracer === Tracer.nativeTracer || parent === undefined || parent instanceof LocalSpan)
  const options = reuse ? scratch : { ...scratch }
  options.name = name
  options.parent = parent === undefined ? noParent : parentOption(parent)
  options.annotations = annotations
  // Only stagetrace's own spans (those of the tracers that keep no options) share the empty links array.
  options.links = env.links.length > 0 ? env.links.slice() : reuse ? noLinks : []
  // A `LocalSpan` makes its BigInts when they are read; other spans get them now.
  options.startTime = local || !env.timingEnabled ? bigint0 : timeline.nanos(startAt)
  options.times = !local
    ? undefined
    : !env.timingEnabled
    ? new OwnTimes(untimed, startAt)
    : stage ?? new OwnTimes(timeline, startAt)
  options.kind = kind
  options.root = parent === undefined
  options.sampled = env.tracerEnabled && (parent === undefined || parent.sampled !== false) &&
    env.sampledByLevel
  let span: Tracer.Span
  if (direct) {
    // What Effect's native tracer would create, as a span that defers its stage attributes.
    span = new LocalSpan(options)
    scratch.parent = noParent
    scratch.annotations = noAnnotations
    scratch.links = noLinks
    scratch.times = undefined
  } else if (reuse) {
    scratchInUse = true
    try {
      span = tracer.span(options)
    } finally {
      scratchInUse = false
      // Hold on to nothing of this span's.
      scratch.parent = noParent
      scratch.annotations = noAnnotations
      scratch.links = noLinks
      scratch.times = undefined
    }
  } else span = tracer.span(options)
  if (env.hasAnnotations) {
    const annotations = env.annotations
    for (const key in annotations) span.attribute(key, annotations[key])
  }
  return span
}

/** The private fields of Effect 4.1's context through which fibers share the cache of hot references. */
interface CacheCarrier {
  readonly cacheRoot?: CacheCarrier | undefined
  _fiberCache?: Fiber.Fiber.Cache | undefined
}

/** Effect 4.1's context (`ContextImpl` in `effect/Context`): a base map under a chain of overlays. */
interface ContextFields {
  readonly cacheRoot: ContextFields
  readonly base: ReadonlyMap<string, unknown>
  readonly overlay: Overlay | undefined
  readonly depth: number
  readonly maxDepth: number
}

/** One service added to a context, over the ones added before. */
interface Overlay {
  readonly key: string
  readonly value: unknown
  readonly parent: Overlay | undefined
}

/**
 * A fiber cache (`Fiber.Fiber.Cache`: what Effect's `makeFiberContextCache` computes) copied from another
 * with a stage's span, and the `Resolved` of its stage: one class, so every cache made here has one shape
 * and exactly its size (a spread of Effect's literal grows a property store for the extra key).
 */
class DerivedCache {
  readonly scheduler: Fiber.Fiber.Cache["scheduler"]
  readonly tracer: Fiber.Fiber.Cache["tracer"]
  readonly tracerContext: Fiber.Fiber.Cache["tracerContext"]
  readonly tracerEnabled: boolean
  readonly span: Tracer.AnySpan
  readonly logLevel: Fiber.Fiber.Cache["logLevel"]
  readonly minimumLogLevel: Fiber.Fiber.Cache["minimumLogLevel"]
  readonly stackFrame: Fiber.Fiber.Cache["stackFrame"]
  readonly runtimeMetrics: Fiber.Fiber.Cache["runtimeMetrics"]
  readonly maxOpsBeforeYield: number
  readonly preventYield: boolean
  readonly [ResolvedEnv]: Resolved

  constructor(base: Fiber.Fiber.Cache, span: Tracer.AnySpan, env: Resolved) {
    this.scheduler = base.scheduler
    this.tracer = base.tracer
    this.tracerContext = base.tracerContext
    this.tracerEnabled = base.tracerEnabled
    this.span = span
    this.logLevel = base.logLevel
    this.minimumLogLevel = base.minimumLogLevel
    this.stackFrame = base.stackFrame
    this.runtimeMetrics = base.runtimeMetrics
    this.maxOpsBeforeYield = base.maxOpsBeforeYield
    this.preventYield = base.preventYield
    this[ResolvedEnv] = env
  }
}

/**
 * What `Context.addUnsafe(previous, Tracer.ParentSpanKey, span)` makes (`makeImpl` in `effect/Context`),
 * with its fiber cache already set, as one object: a class with every field in the object itself, where
 * Effect's `Object.create` puts the fields past the fourth in a separate property store. The context is
 * its own overlay (`key`, `value`, `parent`: the parent span over `previous`'s overlays) and its own fiber
 * cache (the fields of `DerivedCache`), one object where Effect makes three. Effect only reads an
 * overlay's and a cache's fields and may later flatten the context (setting its `overlay` to
 * `undefined`), which leaves those fields, and so the overlay chains of contexts derived from this one, as
 * they were. (A fiber that ends with this cache keeps a copy of its fields, as it does of any cache's,
 * with `span` cleared: the copy still reaches the stage's span through the context's fields, as it
 * reaches the request's through the `Resolved`, until the ended fiber is dropped.)
 */
class DerivedContext implements Overlay {
  // On the prototype (see below): the same for every derived context, or the context itself.
  declare readonly cacheRoot: DerivedContext
  declare readonly _fiberCache: DerivedContext
  declare readonly key: string
  declare readonly span: Tracer.AnySpan
  readonly base: ReadonlyMap<string, unknown>
  readonly overlay: Overlay
  readonly depth: number
  readonly _flat: ReadonlyMap<string, unknown> | undefined
  readonly baseHits: number
  readonly maxDepth: number
  readonly value: Tracer.Span
  readonly parent: Overlay | undefined
  // The fiber cache: `previous`'s, with the stage's span (`span`, read from `value`).
  readonly scheduler: Fiber.Fiber.Cache["scheduler"]
  readonly tracer: Fiber.Fiber.Cache["tracer"]
  readonly tracerContext: Fiber.Fiber.Cache["tracerContext"]
  readonly tracerEnabled: boolean
  readonly logLevel: Fiber.Fiber.Cache["logLevel"]
  readonly minimumLogLevel: Fiber.Fiber.Cache["minimumLogLevel"]
  readonly stackFrame: Fiber.Fiber.Cache["stackFrame"]
  readonly runtimeMetrics: Fiber.Fiber.Cache["runtimeMetrics"]
  readonly maxOpsBeforeYield: number
  readonly preventYield: boolean
  readonly [ResolvedEnv]: Resolved

  constructor(previous: ContextFields, span: Tracer.Span, base: Fiber.Fiber.Cache, env: Resolved) {
    this.base = previous.base
    this.overlay = this
    this.depth = previous.depth + 1
    this._flat = undefined
    this.baseHits = 0
    this.maxDepth = previous.maxDepth
    this.value = span
    this.parent = previous.overlay
    this.scheduler = base.scheduler
    this.tracer = base.tracer
    this.tracerContext = base.tracerContext
    this.tracerEnabled = base.tracerEnabled
    this.logLevel = base.logLevel
    this.minimumLogLevel = base.minimumLogLevel
    this.stackFrame = base.stackFrame
    this.runtimeMetrics = base.runtimeMetrics
    this.maxOpsBeforeYield = base.maxOpsBeforeYield
    this.preventYield = base.preventYield
    this[ResolvedEnv] = env
  }
}

/**
 * What every derived context shares, on its prototype (four fields fewer in each): it is its own cache root
 * (the parent span is one of the keys the fiber cache holds) and its own fiber cache, the key of its
 * overlay is the parent span's, and its cache's span is that overlay's value. Effect never writes these
 * (it sets `_fiberCache` only where it reads none, `??=`), and a fiber that ends with this cache copies
 * its own fields only, with `span` cleared as Effect does.
 */
Object.defineProperties(DerivedContext.prototype, {
  cacheRoot: {
    get(this: DerivedContext) {
      return this
    },
  },
  _fiberCache: {
    get(this: DerivedContext) {
      return this
    },
  },
  key: { value: Tracer.ParentSpanKey },
  span: {
    get(this: DerivedContext) {
      return this.value
    },
  },
})

Object.setPrototypeOf(DerivedContext.prototype, Object.getPrototypeOf(Context.empty()))

/**
 * Whether contexts and fiber caches are laid out as `DerivedContext` and `DerivedCache` expect (Effect
 * 4.1): checked once, on a context `Context.addUnsafe` makes and on a running fiber's cache. When they are
 * not, `withParentSpan` derives contexts with Effect's own functions.
 */
export const derivedContextsSupported: boolean = (() => {
  try {
    const span = Tracer.externalSpan({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
    })
    const made = Context.addUnsafe(Context.empty(), Tracer.ParentSpanKey, span) as unknown as Record<
      string,
      unknown
    >
    const overlay = made.overlay as Record<string, unknown> | undefined
    let cacheKeys = ""
    Effect.runSync(Effect.withFiber((fiber) => {
      cacheKeys = Object.keys(fiber.cache).join()
      return Effect.void
    }))
    return Object.keys(made).join() === "cacheRoot,base,overlay,depth,_flat,baseHits,maxDepth" &&
      made.cacheRoot === made && made.depth === 1 && made.baseHits === 0 && overlay !== undefined &&
      Object.keys(overlay).join() === "key,value,parent" && overlay.value === span &&
      cacheKeys ===
        "scheduler,tracer,tracerContext,tracerEnabled,span,logLevel,minimumLogLevel,stackFrame,runtimeMetrics," +
          "maxOpsBeforeYield,preventYield"
  } catch {
    return false
  }
})()

/**
 * `previous` with `span` as the parent span. Effect recomputes a fiber's cache of hot references
 * (scheduler, tracer, parent span, log levels…: a dozen context lookups) for every new context that sets
 * one of them; this one differs from `previous` in its parent span only, so its cache is `previous`'s
 * with that span — and with `env`, the values `resolve` gives for `previous`, which hold for the new
 * context too (none of them is the parent span). Falls back to Effect's own functions when the context
 * is not laid out as expected, or is due to be flattened (`maxDepth` overlays).
 */
const withParentSpan = (
  previous: Context.Context<never>,
  span: Tracer.Span,
  env: Resolved,
): Context.Context<never> => {
  const base = (previous as CacheCarrier).cacheRoot?._fiberCache
  if (base === undefined) return Context.addUnsafe(previous, Tracer.ParentSpanKey, span)
  const fields = previous as unknown as ContextFields
  if (derivedContextsSupported && fields.depth < fields.maxDepth) {
    return new DerivedContext(fields, span, base, env) as unknown as Context.Context<never>
  }
  const next = Context.addUnsafe(previous, Tracer.ParentSpanKey, span)
  const carrier = next as CacheCarrier
  if (carrier.cacheRoot === carrier && carrier._fiberCache === undefined) {
    carrier._fiberCache = derivedContextsSupported
      ? new DerivedCache(base, span, env) as unknown as Fiber.Fiber.Cache
      : { ...base, span, [ResolvedEnv]: env } as Fiber.Fiber.Cache
  }
  return next
}

/** Ends `span` at instant `endAt` of `timeline`. */
const endSpan = (
  env: Resolved,
  span: Tracer.Span,
  timeline: Timeline,
  endAt: number,
  exit: Exit.Exit<unknown, unknown>,
) => {
  if (span instanceof LocalSpan) span.close(timeline, endAt, exit)
  else span.end(env.timingEnabled ? timeline.nanos(endAt) : bigint0, exit)
}

/** The type and message of the first failure in a cause, for summaries and span attributes. */
export const errorOf = (cause: Cause.Cause<unknown>): StageError => {
  const reasons = cause.reasons
  let interrupted = false
  for (const reason of reasons) {
    if (reason._tag === "Fail") return describe(reason.error)
    if (reason._tag === "Die") return describe(reason.defect)
    interrupted = true
  }
  return interrupted ? { type: "Interrupted", message: "interrupted" } : { type: "Unknown", message: "" }
}

const describe = (error: unknown): StageError => {
  // A hostile error value (a proxy, getters that throw) must not break the stage's exit handler.
  try {
    return describeUnsafe(error)
  } catch {
    return { type: "Unknown", message: "<unreadable error>" }
  }
}

const describeUnsafe = (error: unknown): StageError => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    const type = typeof tag === "string"
      ? tag
      : error instanceof Error
      ? error.name === "Error" && error.constructor !== Error ? error.constructor.name : error.name
      : error.constructor?.name ?? "Object"
    return {
      type: capped(type, 256),
      message: capped(typeof message === "string" ? message : safeString(error)),
    }
  }
  return { type: typeof error, message: capped(safeString(error)) }
}

/** Longest error message kept in a summary (retained summaries must stay small whatever users throw). */
export const maxErrorMessageLength = 4096

const capped = (text: string, max: number = maxErrorMessageLength): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`

const safeString = (value: unknown): string => {
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------------------

/**
 * A stage: its node (the `StageNode` stagetrace attaches to the stage's span) and, while `Stage.track` runs
 * it, its frame on the fiber's stack (`frame.ts`), which closes the stage when its effect ends.
 */
export class StageRun extends FrameBase implements StageNode {
  /** On the prototype (see below), not in every instance. */
  declare readonly _tag: "Stage"
  exec: MutableStageExecution = undefined as unknown as MutableStageExecution
  request: RequestRecord | undefined = undefined
  parent: StageNode | undefined = undefined
  span: Tracer.Span = undefined as unknown as Tracer.Span
  timeline: Timeline = defaultTimeline
  startAt: number = Number.NaN
  endAt: number = Number.NaN
  /** The stage's spec: its budget, and the handles end hooks cache on it. */
  handles: StageSpec = undefined as unknown as StageSpec
  attached = false
  /** What `Stage.track` resolved from the context it started in; set once the stage is open. */
  env: Resolved | undefined = undefined
  /** The fiber's context before the stage set its span; restored when the stage ends. */
  previous: Context.Context<never> | undefined = undefined

  get startNanos(): bigint {
    return this.timeline.nanos(this.startAt)
  }

  get ended(): boolean {
    return !Number.isNaN(this.endAt)
  }

  get budgetMs(): number | undefined {
    return this.handles.budgetMs
  }

  get endNanos(): bigint {
    return this.timeline.nanos(Number.isNaN(this.endAt) ? this.startAt : this.endAt)
  }

  /** Opens the stage on `fiber` (its frame is already on the stack) and makes its span the parent span. */
  start(fiber: Fiber.Fiber<unknown, unknown>, env: Resolved, spec: StageSpec): void {
    const startAt = now(env.clock, env.timeline)
    const parentSpan = fiber.cache.span
    openStageRun(this, env, spec, parentSpan, ownerOf(parentSpan), startAt)
    this.env = env
    const startHooks = env.recorder.stageStart
    for (let i = 0; i < startHooks.length; i++) startHooks[i]!(this)
    const previous = fiber.context
    this.previous = previous
    fiber.setContext(withParentSpan(previous, this.span, env))
  }

  exited(fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void {
    const env = this.env
    if (env === undefined) return
    this.env = undefined
    const previous = this.previous
    if (previous !== undefined) {
      this.previous = undefined
      fiber.setContext(previous)
    }
    const timeline = env.timeline
    const endAt = now(env.clock, timeline)
    closeStageAt(env.recorder, this, exit, endAt)
    endSpan(env, this.span, timeline, endAt, exit)
  }
}

Object.defineProperty(StageRun.prototype, "_tag", { value: "Stage", enumerable: true })

/**
 * Opens `stage` at instant `startAt` of the context's timeline, with a span under `parentSpan` that shares
 * its times, under `owner`'s request (if any).
 */
const openStageRun = (
  stage: StageRun,
  env: Resolved,
  spec: StageSpec,
  parentSpan: Tracer.AnySpan | undefined,
  owner: StageNode | RequestRecord | undefined,
  startAt: number,
): StageRun => {
  const timeline = env.timeline
  // The stage's times first: its span shares them.
  stage.timeline = timeline
  stage.startAt = startAt
  const span = createSpan(
    env,
    spec.name,
    spec.kind,
    parentSpan,
    timeline,
    startAt,
    stageSpanAnnotations,
    stage,
  )
  return initStage(stage, env.recorder, spec, span, owner, timeline, startAt)
}

/**
 * Opens a stage node on `span` under `owner`'s request (if any) and attaches it to the summary tree. Shared
 * by `Stage.track`, `Stage.record` and the adoption of Effect's own spans (`instrument`).
 */
export const openStage = (
  recorder: Recorder,
  spec: StageSpec,
  span: Tracer.Span,
  owner: StageNode | RequestRecord | undefined,
  startNanos: bigint,
): StageNode => initStage(new StageRun(), recorder, spec, span, owner, new Timeline(startNanos), 0)

/**
 * The sub-stages of a stage that has none (most stages): one frozen array shared by every such execution,
 * replaced by an array of its own when the first sub-stage attaches.
 */
const noSubstages: Array<StageExecution> = Object.freeze([]) as unknown as Array<StageExecution>

const initStage = (
  node: StageRun,
  recorder: Recorder,
  spec: StageSpec,
  span: Tracer.Span,
  owner: StageNode | RequestRecord | undefined,
  timeline: Timeline,
  startAt: number,
): StageRun => {
  let request = requestOf(owner)
  if (request !== undefined && request.closed) request = undefined
  const parent = owner !== undefined && owner._tag === "Stage" && request !== undefined ? owner : undefined
  const exec: MutableStageExecution = {
    stageId: spec.stageId,
    name: spec.name,
    startOffsetMs: request === undefined
      ? 0
      : nanosBetween(request.timeline, request.startAt, timeline, startAt) / 1_000_000,
    durationMs: 0,
    success: false,
    status: "running",
    metadata: spec.metadata,
    substages: noSubstages,
  }
  let attached = false
  // stagetrace's own spans write the stage attributes only if they are read or exported.
  const deferred = spec.deferrable && isDeferring(span) &&
    deferStageAttributes(span, spec, request?.requestId)
  if (request !== undefined) {
    if (!deferred) span.attribute("request.id", request.requestId)
    if (
      request.stageCount < recorder.config.maxStagesPerRequest && (parent === undefined || parent.attached)
    ) {
      if (parent === undefined) request.stages.push(exec)
      else {
        const siblings = parent.exec.substages
        if (siblings === noSubstages) parent.exec.substages = [exec]
        else siblings.push(exec)
      }
      request.stageCount++
      attached = true
    } else {
      request.truncated = true
      recorder.droppedStageExecutions++
    }
    request.openStages++
  }
  if (!deferred) {
    span.attribute("stage.id", spec.stageId)
    span.attribute("stage.name", spec.name)
    for (const key of spec.metadataKeys) span.attribute(key, spec.metadata[key])
  }
  if (spec.invalid !== undefined) recorder.countDrop(spec.invalid)
  node.exec = exec
  node.request = request
  node.parent = parent
  node.span = span
  node.timeline = timeline
  node.startAt = startAt
  node.handles = spec
  node.attached = attached
  setOwner(span, node)
  return node
}

/** Fills the node from the exit, feeds statistics and every installed hook. */
export const closeStage = (
  recorder: Recorder,
  node: StageNode,
  exit: Exit.Exit<unknown, unknown>,
  endNanos: bigint,
): void => closeStageAt(recorder, node as StageRun, exit, Number(endNanos - node.timeline.base))

/** `closeStage` at instant `endAt` of the node's timeline. */
const closeStageAt = (
  recorder: Recorder,
  node: StageRun,
  exit: Exit.Exit<unknown, unknown>,
  endAt: number,
) => {
  const exec = node.exec
  const request = node.request
  // A stage outliving its request keeps feeding statistics but no longer touches the published summary.
  const live = request === undefined || !request.closed
  node.endAt = endAt
  const durationMs = (endAt - node.startAt) / 1_000_000
  const success = exit._tag === "Success"
  if (live) {
    exec.durationMs = durationMs
    exec.success = success
    exec.status = outcomeOf(exit)
    if (!success) {
      const error = errorOf(exit.cause)
      exec.error = error
      node.span.attribute("error.type", error.type)
    }
  }
  recorder.stats.entryFor(node.handles, exec.stageId).record(durationMs, success)
  const hooks = recorder.stageEnd
  for (let i = 0; i < hooks.length; i++) hooks[i]!(node, exit, durationMs)
  if (request !== undefined && live) {
    // The end as an instant of the request's timeline.
    request.lastEndAt = nanosBetween(request.timeline, 0, node.timeline, endAt)
    request.openStages--
  }
}

/**
 * `Stage.track`'s and `Request.track`'s effect: one primitive that, when it runs, pushes a new `Run` (the
 * stage's `StageRun`, the request's `RequestRun`) on the fiber's stack as its frame, opens it and returns
 * `self`, which then runs with the stage's or request's span as its parent span (set on the fiber's context
 * directly). The frame closes the stage or request and restores the context however `self` ends. `Run` is
 * on the prototype of each kind (`TrackedStage`, `TrackedRequest`), not in every effect.
 */
abstract class TrackedEffect<A, E, R, Spec> {
  declare readonly Run: new () => OpeningFrame<Resolved, Spec>

  constructor(readonly self: Effect.Effect<A, E, R>, readonly spec: Spec) {}

  step(fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<A, E, R> {
    return trackedStep(this.self, this.spec, this.Run, fiber)
  }
}
definePrimitive(TrackedEffect)

/** `Stage.track`'s effect. */
class TrackedStage<A, E, R> extends TrackedEffect<A, E, R, StageSpec> {}
Object.defineProperty(TrackedStage.prototype, "Run", { value: StageRun })

const trackedStep = <A, E, R, Spec>(
  self: Effect.Effect<A, E, R>,
  spec: Spec,
  Run: new () => OpeningFrame<Resolved, Spec>,
  fiber: Fiber.Fiber<unknown, unknown>,
): Effect.Effect<A, E, R> => {
  const env = resolve(fiber)
  return env.recorder.enabled ? enterFrame(fiber, new Run(), env, spec, self) : self
}

/** A `TrackedEffect` through `Effect.withFiber`, when frames are not supported. */
const trackedWithFiber = <A, E, R, Spec>(
  self: Effect.Effect<A, E, R>,
  spec: Spec,
  Run: new () => OpeningFrame<Resolved, Spec>,
): Effect.Effect<A, E, R> => Effect.withFiber((fiber) => trackedStep(self, spec, Run, fiber))

/** Runs `self` as the stage described by `spec` (see `TrackedEffect`). */
export const trackStage = <A, E, R>(self: Effect.Effect<A, E, R>, spec: StageSpec): Effect.Effect<A, E, R> =>
  disabledByEnvironment
    ? self
    : framesSupported
    ? new TrackedStage(self, spec) as unknown as Effect.Effect<A, E, R>
    : trackedWithFiber(self, spec, StageRun)

/** Options of `Stage.record`, see the public module. */
export interface RecordSpec extends StageSpec {
  readonly durationMs: number | undefined
  readonly success: boolean
  readonly error: unknown
}

const successExit: Exit.Exit<unknown, unknown> = Exit.void

/** The failure of a stage recorded with `success: false` and no `error`. */
const recordedFailure = { _tag: "RecordedFailure", message: "recorded as failed" }

/** Records a stage that already happened, ending now. */
export const recordStage = (spec: RecordSpec): Effect.Effect<void> =>
  disabledByEnvironment ? Effect.void : Effect.withFiber((fiber) => {
    const env = resolve(fiber)
    const recorder = env.recorder
    if (!recorder.enabled) return Effect.void
    const timeline = env.timeline
    const endAt = now(env.clock, timeline)
    const parentSpan = fiber.cache.span
    const owner = ownerOf(parentSpan)
    const request = requestOf(owner)
    let durationMs = spec.durationMs
    if (durationMs === undefined) {
      if (request === undefined || request.closed) {
        recorder.countDrop("record_without_duration")
        return Effect.void
      }
      durationMs = nanosBetween(request.timeline, request.lastEndAt, timeline, endAt) / 1_000_000
    }
    if (!(durationMs >= 0) || durationMs === Infinity) {
      recorder.countDrop("invalid_duration")
      return Effect.void
    }
    const startAt = endAt - Math.round(durationMs * 1_000_000)
    const node = openStageRun(new StageRun(), env, spec, parentSpan, owner, startAt)
    const span = node.span
    node.exec.recorded = true
    const exit = spec.success ? successExit : Exit.fail(spec.error ?? recordedFailure)
    closeStageAt(recorder, node, exit, endAt)
    endSpan(env, span, timeline, endAt, exit)
    return Effect.void
  })

// ---------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------

/**
 * A request's static description: its options, resolved. Kept by the request's effect (so for as long as
 * a request runs), hence flat, without the options object it was made from.
 */
export interface RequestSpec {
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly requestId: string | undefined
  readonly force: boolean
  readonly attributes: Readonly<Record<string, unknown>> | undefined
  /** The keys of `attributes` copied into each run's own attributes; `undefined` when `owned`. */
  readonly attributeKeys: ReadonlyArray<string> | undefined
  /**
   * Whether the request takes `attributes` as its own (they were made for this one request, by
   * `Http.middleware`) instead of a copy.
   */
  readonly owned: boolean
  readonly budgetMs: number | undefined
  readonly parent: Tracer.AnySpan | undefined
  readonly parentTraceState: string | undefined
  /** Why options were ignored, if any were (each reported as a counted drop when the request runs). */
  readonly invalid: ReadonlyArray<string>
}

const noReasons: ReadonlyArray<string> = Object.freeze([])

/** Specs of requests built without options, by name (bounded, as `plainSpecs`). */
const plainRequestSpecs = new Map<string, RequestSpec>()

/** Builds the static description of a request (shared by every request of a name built without options). */
export const makeRequestSpec = (name: string, options: RequestOptions | undefined): RequestSpec =>
  sharedSpec(plainRequestSpecs, buildRequestSpec, name, options)

const buildRequestSpec = (
  name: string,
  options: RequestOptions | undefined,
  owned: boolean = false,
): RequestSpec => {
  const budgetMs = budgetToMillis(options?.budget)
  const given = options?.parent
  let parent: Tracer.AnySpan | undefined
  let parentTraceState: string | undefined
  // Built on every request when `Request.track` is written inside a handler: nothing allocated for the
  // common case (no reasons, no attributes).
  let invalid: Array<string> | undefined
  if (budgetMs !== undefined && Number.isNaN(budgetMs)) invalid = ["invalid_budget"]
  if (given === undefined || "_tag" in given) parent = given
  else if (isValidTraceId(given.traceId) && isValidSpanId(given.spanId)) {
    parent = Tracer.externalSpan({
      traceId: given.traceId,
      spanId: given.spanId,
      sampled: given.sampled ?? true,
    })
    parentTraceState = given.traceState
  } else {
    // W3C: a malformed trace context is ignored (the trace restarts), never continued.
    ;(invalid ??= []).push("invalid_parent")
  }
  const attributes = options?.attributes
  const attributeKeys = attributes === undefined || owned ? undefined : Object.keys(attributes)
  return {
    name,
    kind: options?.kind ?? "internal",
    requestId: options?.requestId,
    force: options?.force === true,
    attributes: attributeKeys !== undefined && attributeKeys.length === 0 ? undefined : attributes,
    attributeKeys,
    owned,
    budgetMs: budgetMs !== undefined && Number.isNaN(budgetMs) ? undefined : budgetMs,
    parent,
    parentTraceState,
    invalid: invalid ?? noReasons,
  }
}

/**
 * The spec of one request of `Http.middleware`, whose `attributes` object was made for it: the request
 * takes it as its own (no copy; nothing but the spec is kept while the request runs).
 */
export const makeServerRequestSpec = (
  name: string,
  options: RequestOptions & { readonly attributes: Record<string, unknown> },
): RequestSpec => buildRequestSpec(name, options, true)

/** Shared by requests without attributes; replaced (never written) when one is added. */
export const emptyAttributes: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>

let idCounter = 0
const idPrefix = crypto.randomUUID().slice(0, 8)

/** `crypto.randomUUID`, read once: under Deno the `crypto` global is a getter, costly on every request. */
const randomUUID: () => string = crypto.randomUUID.bind(crypto)

/** A new request id: a random UUID (version 4). */
export const generateRequestId = (): string => randomUUID()

/** A cheap process-unique id, for places that need uniqueness but not randomness. */
export const nextLocalId = (): string => `${idPrefix}-${(++idCounter).toString(36)}`

/** Opens the request (record and span) that `spec` describes, as `Request.track` runs it on `fiber`. */
const openTrackedRequest = (
  env: Resolved,
  spec: RequestSpec,
  fiber: Fiber.Fiber<unknown, unknown>,
): RequestRecord => {
  const recorder = env.recorder
  const invalid = spec.invalid
  for (let i = 0; i < invalid.length; i++) recorder.countDrop(invalid[i]!)
  const timeline = env.timeline
  const startAt = now(env.clock, timeline)
  const parentSpan: Tracer.AnySpan | undefined = spec.parent ?? fiber.cache.span
  const span = createSpan(
    env,
    spec.name,
    spec.kind,
    parentSpan,
    timeline,
    startAt,
    requestSpanAnnotations,
    undefined,
  )
  let attributes: Record<string, unknown> = emptyAttributes
  const given = spec.attributes
  if (given !== undefined) {
    if (spec.owned) {
      // The request's own object (`makeServerRequestSpec`).
      attributes = given as Record<string, unknown>
      for (const key in given) span.attribute(key, given[key])
    } else {
      attributes = {}
      for (const key of spec.attributeKeys ?? noReasons) {
        attributes[key] = given[key]
        span.attribute(key, given[key])
      }
    }
  }
  return openRequestAt(
    recorder,
    span,
    spec.name,
    spec.requestId ?? generateRequestId(),
    parentSpan,
    spec.parentTraceState,
    timeline,
    startAt,
    attributes,
    spec.force,
    spec.budgetMs,
  )
}

/** A request while `Request.track` runs it: its frame on the fiber's stack (see `StageRun`). */
class RequestRun extends FrameBase {
  record: RequestRecord | undefined = undefined
  env: Resolved | undefined = undefined
  previous: Context.Context<never> | undefined = undefined

  start(fiber: Fiber.Fiber<unknown, unknown>, env: Resolved, spec: RequestSpec): void {
    const record = openTrackedRequest(env, spec, fiber)
    this.record = record
    this.env = env
    const previous = fiber.context
    this.previous = previous
    fiber.setContext(withParentSpan(previous, record.span, env))
  }

  exited(fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void {
    const record = this.record
    const env = this.env
    if (record === undefined || env === undefined) return
    this.record = undefined
    const previous = this.previous
    if (previous !== undefined) {
      this.previous = undefined
      fiber.setContext(previous)
    }
    const timeline = env.timeline
    const endAt = now(env.clock, timeline)
    env.recorder.inFlight--
    finishRequest(env.recorder, record, exit, nanosBetween(record.timeline, 0, timeline, endAt))
    endSpan(env, record.span, timeline, endAt, exit)
  }
}

/** `Request.track`'s effect. */
class TrackedRequest<A, E, R> extends TrackedEffect<A, E, R, RequestSpec> {}
Object.defineProperty(TrackedRequest.prototype, "Run", { value: RequestRun })

/** Runs `self` as one request (see `TrackedEffect`). */
export const trackRequest = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  spec: RequestSpec,
): Effect.Effect<A, E, R> =>
  disabledByEnvironment
    ? self
    : framesSupported
    ? new TrackedRequest(self, spec) as unknown as Effect.Effect<A, E, R>
    : trackedWithFiber(self, spec, RequestRun)

/**
 * Opens a request record on `span` (which must carry `requestSpanAnnotations` when a tail-sampling tracer
 * created it), counts it in flight and runs the request start hooks. Shared by `Request.track` and the
 * adoption of Effect's own server spans (`instrument`).
 */
export const openRequest = (
  recorder: Recorder,
  span: Tracer.Span,
  name: string,
  requestId: string,
  parentSpan: Tracer.AnySpan | undefined,
  parentTraceState: string | undefined,
  startNanos: bigint,
  attributes: Record<string, unknown>,
  force: boolean,
  budgetMs: number | undefined,
): RequestRecord =>
  openRequestAt(
    recorder,
    span,
    name,
    requestId,
    parentSpan,
    parentTraceState,
    new Timeline(startNanos),
    0,
    attributes,
    force,
    budgetMs,
  )

/** A request's record (see `RequestRecord`). */
class RequestState implements RequestRecord {
  declare readonly _tag: "Request"
  traceState: string | undefined = undefined
  readonly startTime: number
  readonly stages: Array<StageExecution> = []
  readonly sampled: boolean
  stageCount = 0
  openStages = 0
  truncated = false
  lastEndAt: number
  overBudget = false
  closed = false
  slots: Map<string, unknown> | undefined = undefined

  constructor(
    readonly recorder: Recorder,
    readonly requestId: string,
    public name: string,
    readonly span: Tracer.Span,
    readonly parentSpan: Tracer.AnySpan | undefined,
    readonly parentTraceState: string | undefined,
    readonly timeline: Timeline,
    readonly startAt: number,
    public attributes: Record<string, unknown>,
    readonly force: boolean,
    readonly budgetMs: number | undefined,
  ) {
    this.startTime = timeline.millis(startAt)
    this.sampled = span.sampled
    this.lastEndAt = startAt
  }

  get startNanos(): bigint {
    return this.timeline.nanos(this.startAt)
  }
}
Object.defineProperty(RequestState.prototype, "_tag", { value: "Request", enumerable: true })

/** `openRequest` at instant `startAt` of `timeline`. */
const openRequestAt = (
  recorder: Recorder,
  span: Tracer.Span,
  name: string,
  requestId: string,
  parentSpan: Tracer.AnySpan | undefined,
  parentTraceState: string | undefined,
  timeline: Timeline,
  startAt: number,
  attributes: Record<string, unknown>,
  force: boolean,
  budgetMs: number | undefined,
): RequestRecord => {
  span.attribute("request.id", requestId)
  const record = new RequestState(
    recorder,
    requestId,
    name,
    span,
    parentSpan,
    parentTraceState,
    timeline,
    startAt,
    attributes,
    force,
    budgetMs,
  )
  setOwner(span, record)
  recorder.inFlight++
  const startHooks = recorder.requestStart
  for (let i = 0; i < startHooks.length; i++) startHooks[i]!(record)
  return record
}

/** Ends a request opened with `openRequest`: summary, hooks, store (the caller ends the span after). */
export const closeRequest = (
  recorder: Recorder,
  record: RequestRecord,
  exit: Exit.Exit<unknown, unknown>,
  endNanos: bigint,
): void => {
  recorder.inFlight--
  finishRequest(recorder, record, exit, Number(endNanos - record.timeline.base))
}

/** Marks stages that did not end with their request as unfinished, with the time they had run. */
const closeOpenStages = (stages: ReadonlyArray<StageExecution>, requestEndMs: number) => {
  for (const stage of stages) {
    if (stage.status === "running") {
      const exec = stage as MutableStageExecution
      exec.status = "unfinished"
      exec.durationMs = Math.max(0, requestEndMs - exec.startOffsetMs)
    }
    if (stage.substages.length > 0) closeOpenStages(stage.substages, requestEndMs)
  }
}

/**
 * A copy of the stage tree for a snapshot of a running request: each execution is copied (the live ones
 * keep changing), while metadata and errors are shared (they are never written once set). Running stages
 * keep the status `running` (`unfinished` is for stages their request outlived) and get the time they have
 * run so far.
 */
const snapshotStages = (
  stages: ReadonlyArray<StageExecution>,
  nowMs: number,
): Array<StageExecution> => {
  const out: Array<StageExecution> = new Array(stages.length)
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i]!
    const copy: MutableStageExecution = {
      ...stage,
      substages: stage.substages.length === 0 ? [] : snapshotStages(stage.substages, nowMs),
    }
    if (copy.status === "running") copy.durationMs = Math.max(0, nowMs - copy.startOffsetMs)
    out[i] = copy
  }
  return out
}

/** Builds the summary (a snapshot when the request is still running). */
export const summarize = (
  recorder: Recorder,
  record: RequestRecord,
  durationMs: number,
  exit: Exit.Exit<unknown, unknown> | undefined,
): RequestSummary => {
  // The tree may hold anything users put in metadata (functions, class instances): copy, never clone.
  const stages = exit === undefined ? snapshotStages(record.stages, durationMs) : record.stages
  const summary: Writable<RequestSummary> = {
    requestId: record.requestId,
    name: record.name,
    traceId: record.span.traceId,
    spanId: record.span.spanId,
    startTime: record.startTime,
    durationMs,
    success: exit === undefined ? true : exit._tag === "Success",
    status: exit === undefined ? "running" : outcomeOf(exit),
    stageCount: record.stageCount,
    stages,
    bottlenecks: bottlenecksOf(stages, durationMs, recorder.config.bottleneckShare),
    attributes: exit === undefined ? { ...record.attributes } : record.attributes,
    truncated: record.truncated,
    overBudget: record.overBudget,
    sampled: record.sampled,
    keptBecause: undefined,
  }
  if (exit !== undefined && exit._tag === "Failure") summary.error = errorOf(exit.cause)
  return summary
}

/** Ends the request at instant `endAt` of its timeline: summary, hooks, store. */
const finishRequest = (
  recorder: Recorder,
  record: RequestRecord,
  exit: Exit.Exit<unknown, unknown>,
  endAt: number,
) => {
  const durationMs = (endAt - record.startAt) / 1_000_000
  if (record.openStages > 0) closeOpenStages(record.stages, durationMs)
  if (exit._tag === "Failure") record.span.attribute("error.type", errorOf(exit.cause).type)
  const summary = summarize(recorder, record, durationMs, exit)
  record.closed = true
  const endHooks = recorder.requestEnd
  for (let i = 0; i < endHooks.length; i++) endHooks[i]!(record, summary, exit)
  // Redacted once, before anything outside the recorder (store, stream, sinks, user code) sees it.
  if (recorder.redactSummary !== undefined) recorder.redactSummary(summary)
  recorder.summaries.add(summary, recorder.config.bottleneckShare)
  const sinks = recorder.summary
  for (let i = 0; i < sinks.length; i++) sinks[i]!(summary, record)
}

/** Removes `readonly` from every field of `T`. */
export type Writable<T> = { -readonly [K in keyof T]: T[K] }

/** The current request record, if the fiber runs inside one that has not ended. */
export const currentRequest = (fiber: Fiber.Fiber<unknown, unknown>): RequestRecord | undefined => {
  const request = requestOf(ownerOf(fiber.cache.span))
  return request === undefined || request.closed ? undefined : request
}

/** Shared failure value for lookups outside a request. */
export const noRequest = (): Cause.NoSuchElementError =>
  new Cause.NoSuchElementError("Not inside a request: wrap the effect with Request.track")
