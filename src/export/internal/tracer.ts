/**
 * The recording tracer: spans are Effect spans (the native span class when the inner tracer is Effect's
 * own, a thin delegating span otherwise, for example over OpenTelemetry spans), and a span that ends
 * sampled is handed synchronously to every span sink (export channels, the memory exporter). Open spans
 * are tracked in a bounded registry so shutdown can end them as interrupted; spans that will never end
 * (dropped by sampling) are discarded by the sampling concern (`DiscardKey`), and the sweep releases any
 * left whose request already ended.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { type GatedSpan, GateKey, type SpanGate } from "../../internal/gate.ts"
import { DiscardKey, OwnerKey, ownerOf, requestOf } from "../../internal/recorder.ts"
import {
  type DeferredStage,
  type DeferringSpan,
  materializeStageAttributes,
  settleDeferredPairs,
} from "../../internal/stageAttributes.ts"
import { OptionsNotKept, ownLinks, TakesSpanTimes } from "../../internal/spanOptions.ts"
import type { Timeline } from "../../internal/clock.ts"
import { LocalSpan, type LocalSpanOptions, type SpanTimes } from "../../stage/internal/tracking.ts"
import type { FinishedSpan } from "./otlpTraces.ts"

/** Receives every span that ended sampled. */
export type SpanSink = (span: FinishedSpan) => void

/**
 * Spans that started sampled and have not ended: an intrusive doubly-linked list (no allocation per span,
 * O(1) add and remove), bounded by `capacity`. Spans that can never end normally are released: every
 * 1024 additions (and when the list is full, at most once per `capacity / 16` additions) a sweep unlinks
 * spans whose request already ended — spans of requests dropped by tail sampling are never ended — and
 * when the list is still full the oldest open span is evicted (counted in `untracked`; it just will not be
 * ended at shutdown). A sweep visits every open span, so spacing them keeps `add` amortized O(16) even
 * when more than `capacity` spans are genuinely open (long streams, many connections).
 */
export class OpenSpans {
  private oldest: RecordedSpan | undefined = undefined
  private newest: RecordedSpan | undefined = undefined
  size = 0
  private addsSinceSweep = 0
  /** Spans evicted while still open because the registry was full. */
  untracked = 0
  /** Sweeps run so far (each visits every open span). */
  sweeps = 0
  private readonly sweepWhenFullAfter: number

  constructor(readonly capacity: number) {
    this.sweepWhenFullAfter = capacity >> 4
  }

  add(span: RecordedSpan): void {
    if (this.size >= this.capacity) {
      if (this.addsSinceSweep >= this.sweepWhenFullAfter) this.sweep()
      if (this.size >= this.capacity) {
        this.remove(this.oldest!)
        this.untracked++
      }
    }
    span.openPrev = this.newest
    span.openNext = undefined
    if (this.newest === undefined) this.oldest = span
    else this.newest.openNext = span
    this.newest = span
    this.size++
    if (++this.addsSinceSweep >= 1024) this.sweep()
  }

  /** Whether `span` is in the registry (only the oldest open span has no previous one). */
  has(span: RecordedSpan): boolean {
    return span.openPrev !== undefined || this.oldest === span
  }

  remove(span: RecordedSpan): void {
    const prev = span.openPrev
    if (prev === undefined && this.oldest !== span) return
    const next = span.openNext
    if (prev === undefined) this.oldest = next
    else prev.openNext = next
    if (next === undefined) this.newest = prev
    else next.openPrev = prev
    span.openPrev = undefined
    span.openNext = undefined
    this.size--
  }

  /** Unlinks spans whose request already ended: they were dropped by tail sampling and never end. */
  sweep(): void {
    this.addsSinceSweep = 0
    this.sweeps++
    let span = this.oldest
    while (span !== undefined) {
      const next = span.openNext
      const request = requestOf(ownerOf(span as unknown as Tracer.Span))
      if (request !== undefined && request.closed) this.remove(span)
      span = next
    }
  }

  /** The spans still open, oldest first. */
  alive(): Array<RecordedSpan> {
    const out: Array<RecordedSpan> = []
    for (let span = this.oldest; span !== undefined; span = span.openNext) out.push(span)
    return out
  }
}

/** The shared state of a recording tracer: where ended spans go. */
export class SpanPipeline {
  readonly sinks: Array<SpanSink> = []
  /**
   * Whether `export` writes a span's deferred attribute pairs into its map before the sinks see it: `false`
   * only when every sink is an OTLP encoder, which encodes the pairs as they are (`directPairs`).
   */
  settlePairs = true
  readonly open: OpenSpans
  /** Set while `endOpen` ends what is still open at shutdown: gates no longer hold spans. */
  private ending = false
  constructor(openCapacity: number) {
    this.open = new OpenSpans(openCapacity)
  }

  /** A span ended: exported when sampled, or when its gate (tail sampling) admits it. */
  ended(span: RecordedSpan & FinishedSpan & { readonly gate?: SpanGate | undefined }): void {
    this.open.remove(span)
    const gate = span.gate
    if (gate === undefined) {
      if (!span.sampled) return
    } else if (!this.ending && !gate.admit(span as unknown as GatedSpan)) return
    this.export(span)
  }

  /**
   * Hands a finished span to every sink (its deferred attributes written into its map first, unless every
   * sink encodes them as they are: `settlePairs`).
   */
  export(span: FinishedSpan): void {
    if (span.deferredPairs !== undefined && this.settlePairs) {
      settleDeferredPairs(span as FinishedSpan & DeferringSpan)
    }
    const sinks = this.sinks
    for (let i = 0; i < sinks.length; i++) sinks[i]!(span)
  }

  /**
   * Ends every open span that is still alive as interrupted at `endNanos` and exports it, even when its
   * request's tail decision is still pending — except spans of requests that already ended (those were
   * dropped by tail sampling and must stay unexported).
   */
  endOpen(endNanos: bigint): number {
    let ended = 0
    this.open.sweep()
    this.ending = true
    try {
      for (const span of this.open.alive()) {
        if (span.status._tag !== "Started") continue
        span.end(endNanos, interruptedExit)
        ended++
      }
    } finally {
      this.ending = false
    }
    return ended
  }
}

const interruptedExit: Exit.Exit<never> = Exit.interrupt()

/**
 * The fields the pipeline needs on every span it created: the links of the open-span registry (whether a span
 * is in it is `OpenSpans.has`: no flag of its own).
 */
export interface RecordedSpan {
  openPrev: RecordedSpan | undefined
  openNext: RecordedSpan | undefined
  readonly sampled: boolean
  readonly status: Tracer.SpanStatus
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void
}

type SpanOptions = Parameters<Tracer.Tracer["span"]>[0]

/**
 * A native Effect span that reports its end to the pipeline. Tail sampling attaches a gate to the spans of
 * a request whose decision is pending (`GateKey`): the span then reports the head decision as `sampled`,
 * and its gate holds it when it ends until the decision releases (exports) or drops it — no proxy span,
 * no second span.
 *
 * Every request allocates a dozen of these, most of them (at a low sample rate) never exported, so the
 * class keeps few fields: whether a span is open is read from the registry's links (`OpenSpans.has`), and a
 * span held by its gate links to the next held span through its registry link (`heldNext`), free by then
 * since an ended span has left the registry. It is a `NativeSpan` by its prototype (below), not a subclass:
 * V8 constructs a derived class several times slower than a base class, so its constructor sets
 * `NativeSpan`'s fields itself (as `RecordingLocalSpan` does `LocalSpan`'s).
 */
export class RecordingNativeSpan implements RecordedSpan, FinishedSpan, GatedSpan, DeferringSpan {
  // `NativeSpan`'s fields, in its order (a test compares the two): see the class description.
  readonly _tag = "Span"
  readonly sampled: boolean
  readonly name: string
  readonly parent: Option.Option<Tracer.AnySpan>
  readonly annotations: Context.Context<never>
  readonly links: Array<Tracer.SpanLink>
  readonly startTime: bigint
  readonly kind: Tracer.SpanKind
  status: Tracer.SpanStatus
  _traceId: string | undefined = undefined
  _spanId: string | undefined = undefined
  _attributes: Map<string, unknown> | undefined = undefined
  _events: Array<[name: string, startTime: bigint, attributes: Record<string, unknown>]> | undefined =
    undefined;
  /** The stagetrace stage or request behind the span (declared, so setting it keeps the span's shape). */
  [OwnerKey]: unknown = undefined
  openPrev: RecordedSpan | undefined = undefined
  openNext: RecordedSpan | undefined = undefined
  traceState: string | undefined = undefined
  gate: SpanGate | undefined = undefined
  /** Stage attributes written only when read or exported (see `stageAttributes.ts`). */
  deferredStage: DeferredStage | undefined = undefined
  deferredRequestId: string | undefined = undefined
  readonly pipeline: SpanPipeline

  constructor(options: SpanOptions, pipeline: SpanPipeline) {
    this.name = options.name
    this.parent = options.parent
    this.annotations = options.annotations
    this.links = options.links
    this.startTime = options.startTime
    this.kind = options.kind
    this.sampled = options.sampled
    this.status = { _tag: "Started", startTime: options.startTime }
    this.pipeline = pipeline
    if (options.sampled) pipeline.open.add(this)
  }

  /** The next span held by the same gate: the registry link, unused once the span ended. */
  get heldNext(): GatedSpan | undefined {
    return this.openNext as RecordingNativeSpan | undefined
  }
  set heldNext(next: GatedSpan | undefined) {
    this.openNext = next as RecordingNativeSpan | undefined
  }

  get attributes(): Map<string, unknown> {
    return materializeStageAttributes(this)
  }

  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    ownLinks(this)
    nativeAddLinks.call(this, links)
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    nativeEnd.call(this, endTime, exit)
    this.pipeline.ended(this)
  }

  /** Sampling dropped the span: it will never end. */
  [DiscardKey](): void {
    this.pipeline.open.remove(this)
  }

  /** Tail sampling holds the span's export (see the class description). */
  [GateKey](gate: SpanGate, sampled: boolean, traceState: string | undefined): void {
    this.gate = gate
    ;(this as { sampled: boolean }).sampled = sampled
    this.traceState = traceState
  }

  /** The gate kept the span: export it. */
  release(): void {
    this.pipeline.export(this)
  }

  /** The gate dropped the span (it already left the open-span registry when it ended). */
  discard(): void {}
}
// Everything else (`traceId`, `spanId`, `attribute`, `event`… and `instanceof NativeSpan`) is `NativeSpan`'s.
export interface RecordingNativeSpan extends Omit<Tracer.NativeSpan, "attributes" | "addLinks" | "end"> {}
Object.setPrototypeOf(RecordingNativeSpan.prototype, Tracer.NativeSpan.prototype)
const nativeAddLinks = Tracer.NativeSpan.prototype.addLinks
const nativeEnd = Tracer.NativeSpan.prototype.end

/** The options of a span whose times the stage wrapper gives. */
type TimedOptions = LocalSpanOptions & { readonly times: SpanTimes }

/**
 * The recording span of a stage or request (`createSpan` gives it the span's times, `TakesSpanTimes`): a
 * `LocalSpan` — times as instants shared with its stage, BigInts made only when read, stage attributes
 * deferred, like the attributes written to it (the request's: a span of a request dropped by sampling never
 * builds its attribute map; an exported one builds it when exported) — that reports its end to the
 * pipeline and takes a gate as `RecordingNativeSpan` does.
 *
 * Every request makes a dozen, so it is a `LocalSpan` by its prototype (below) rather than a subclass: V8
 * constructs a derived class several times slower than a base class (`super` is not inlined the same
 * way; ~50 ns against ~12 ns per span here). The constructor therefore sets `LocalSpan`'s fields itself,
 * in `LocalSpan`'s order (a test compares the two), then the recording's own.
 */
export class RecordingLocalSpan implements RecordedSpan, FinishedSpan, GatedSpan {
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
  times: SpanTimes
  exit: Exit.Exit<unknown, unknown> | undefined = undefined
  openPrev: RecordedSpan | undefined = undefined
  openNext: RecordedSpan | undefined = undefined
  traceState: string | undefined = undefined
  gate: SpanGate | undefined = undefined
  readonly pipeline: SpanPipeline

  constructor(options: TimedOptions, pipeline: SpanPipeline) {
    this.name = options.name
    this.parent = options.parent
    this.annotations = options.annotations
    this.links = options.links
    this.kind = options.kind
    this.sampled = options.sampled
    this.times = options.times
    this.pipeline = pipeline
    if (options.sampled) pipeline.open.add(this)
  }

  close(timeline: Timeline, at: number, exit: Exit.Exit<unknown, unknown>): void {
    if (this.exit !== undefined) return
    localClose.call(this, timeline, at, exit)
    this.pipeline.ended(this)
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.exit !== undefined) return
    localEnd.call(this, endTime, exit)
    this.pipeline.ended(this)
  }

  // The registry and gate protocol, from `RecordingNativeSpan` (below): the same fields.
  declare heldNext: GatedSpan | undefined
  declare [DiscardKey]: () => void
  declare [GateKey]: (gate: SpanGate, sampled: boolean, traceState: string | undefined) => void
  declare release: () => void
  declare discard: () => void
}
// Everything else (`attributes`, `status`, `attribute`, `event`… and `instanceof LocalSpan`) is `LocalSpan`'s.
export interface RecordingLocalSpan extends Omit<LocalSpan, "close" | "end"> {}
Object.setPrototypeOf(RecordingLocalSpan.prototype, LocalSpan.prototype)
const localClose = LocalSpan.prototype.close
const localEnd = LocalSpan.prototype.end
for (const key of ["heldNext", DiscardKey, GateKey, "release", "discard"] as const) {
  Object.defineProperty(
    RecordingLocalSpan.prototype,
    key,
    Object.getOwnPropertyDescriptor(RecordingNativeSpan.prototype, key)!,
  )
}

/** A span over another tracer's span (OpenTelemetry, Deno): records what the exporters need, forwards all. */
export class RecordingDelegateSpan implements Tracer.Span, RecordedSpan, FinishedSpan {
  readonly _tag = "Span"
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly annotations: Context.Context<never>
  readonly links: Array<Tracer.SpanLink>
  readonly inner: Tracer.Span
  status: Tracer.SpanStatus
  openPrev: RecordedSpan | undefined = undefined
  openNext: RecordedSpan | undefined = undefined
  traceState: string | undefined = undefined
  _attributes: Map<string, unknown> | undefined = undefined
  _events: Array<[string, bigint, Record<string, unknown> | undefined]> | undefined = undefined

  constructor(inner: Tracer.Span, options: SpanOptions, readonly pipeline: SpanPipeline) {
    this.inner = inner
    this.name = options.name
    this.kind = options.kind
    this.annotations = options.annotations
    this.links = options.links
    this.status = { _tag: "Started", startTime: options.startTime }
    if (inner.sampled) pipeline.open.add(this)
  }

  get traceId(): string {
    return this.inner.traceId
  }
  get spanId(): string {
    return this.inner.spanId
  }
  get sampled(): boolean {
    return this.inner.sampled
  }
  get parent(): Option.Option<Tracer.AnySpan> {
    return this.inner.parent
  }
  get attributes(): ReadonlyMap<string, unknown> {
    return this._attributes ??= new Map()
  }

  attribute(key: string, value: unknown): void {
    if (this.status._tag === "Ended") return
    ;(this._attributes ??= new Map()).set(key, value)
    this.inner.attribute(key, value)
  }

  event(name: string, startTime: bigint, attributes?: Record<string, unknown>): void {
    if (this.status._tag === "Ended") return
    ;(this._events ??= []).push([name, startTime, attributes])
    this.inner.event(name, startTime, attributes)
  }

  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    if (this.status._tag === "Ended") return
    this.links.push(...links)
    this.inner.addLinks(links)
  }

  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
    this.inner.end(endTime, exit)
    this.pipeline.ended(this)
  }

  /** Sampling dropped the span: it will never end. */
  [DiscardKey](): void {
    this.pipeline.open.remove(this)
  }
}

/**
 * A tracer whose spans report to `pipeline` when they end. Over Effect's native tracer it creates native
 * spans itself (no extra object per span): `RecordingLocalSpan`s for stagetrace's stages and requests (whose
 * options carry their times), `RecordingNativeSpan`s for every other span; over any other tracer it
 * delegates.
 */
export const makeRecordingTracer = (inner: Tracer.Tracer, pipeline: SpanPipeline): Tracer.Tracer => {
  if (inner === Tracer.nativeTracer) {
    // Its spans copy what they need from the options (so the stage wrapper may reuse one options object)
    // and copy the shared empty links array before writing to it.
    return Tracer.make({
      span: (options) =>
        (options as LocalSpanOptions).times !== undefined
          ? new RecordingLocalSpan(options as LocalSpanOptions as TimedOptions, pipeline)
          : new RecordingNativeSpan(options, pipeline),
      [OptionsNotKept]: true,
      [TakesSpanTimes]: true,
    } as Tracer.Tracer)
  }
  return Tracer.make({
    // A span without an Effect parent continues the active OpenTelemetry context (Deno.serve's server
    // span, a span of OTel-instrumented code), even when it was created as a root for lack of a parent.
    span: (options) =>
      new RecordingDelegateSpan(
        inner.span(options.root && options.parent._tag === "None" ? { ...options, root: false } : options),
        options,
        pipeline,
      ),
    ...(inner.context !== undefined ? { context: inner.context } : {}),
  })
}
