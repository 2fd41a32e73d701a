/**
 * The recording tracer: spans are Effect spans (the native span class when the inner tracer is Effect's
 * own, a thin delegating span otherwise, for example over OpenTelemetry spans), and a span that ends
 * sampled is handed synchronously to every span sink (export channels, the memory exporter). Nothing
 * holds a started span strongly: open spans are tracked through `WeakRef`s so that spans which are never
 * ended (requests dropped by tail sampling) are simply collected, while shutdown can still end the ones
 * that are alive as interrupted.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { ownerOf, requestOf } from "../../internal/recorder.ts"
import type { FinishedSpan } from "./otlpTraces.ts"

/** Receives every span that ended sampled. */
export type SpanSink = (span: FinishedSpan) => void

/** Tracks spans that started and have not ended, without keeping them alive. */
export class OpenSpans {
  private readonly refs: Array<WeakRef<RecordedSpan> | undefined>
  private readonly free: Array<number> = []
  private next = 0
  /** Spans that could not be tracked because every slot was taken by a live open span. */
  untracked = 0

  constructor(readonly capacity: number) {
    this.refs = new Array(capacity)
  }

  add(span: RecordedSpan): number {
    let slot = this.free.pop()
    if (slot === undefined) {
      if (this.next < this.capacity) slot = this.next++
      else {
        this.sweep()
        slot = this.free.pop()
        if (slot === undefined) {
          this.untracked++
          return -1
        }
      }
    }
    this.refs[slot] = new WeakRef(span)
    return slot
  }

  remove(slot: number): void {
    if (slot < 0) return
    this.refs[slot] = undefined
    this.free.push(slot)
  }

  /** Frees the slots of spans that were collected without ending. */
  sweep(): void {
    for (let i = 0; i < this.next; i++) {
      const ref = this.refs[i]
      if (ref !== undefined && ref.deref() === undefined) {
        this.refs[i] = undefined
        this.free.push(i)
      }
    }
  }

  /** The spans still open and alive. */
  alive(): Array<RecordedSpan> {
    const out: Array<RecordedSpan> = []
    for (let i = 0; i < this.next; i++) {
      const span = this.refs[i]?.deref()
      if (span !== undefined && span.status._tag === "Started") out.push(span)
    }
    return out
  }
}

/** The shared state of a recording tracer: where ended spans go. */
export class SpanPipeline {
  readonly sinks: Array<SpanSink> = []
  readonly open: OpenSpans
  constructor(openCapacity: number) {
    this.open = new OpenSpans(openCapacity)
  }

  ended(span: RecordedSpan & FinishedSpan): void {
    const slot = span.slot
    if (slot >= 0) {
      this.open.remove(slot)
      span.slot = -1
    }
    if (!span.sampled) return
    const sinks = this.sinks
    for (let i = 0; i < sinks.length; i++) sinks[i]!(span)
  }

  /**
   * Ends every open span that is still alive as interrupted at `endNanos` — except spans of requests that
   * already ended (those were dropped by tail sampling and must stay unexported).
   */
  endOpen(endNanos: bigint): number {
    let ended = 0
    for (const span of this.open.alive()) {
      const request = requestOf(ownerOf(span as unknown as Tracer.Span))
      if (request !== undefined && request.closed) continue
      span.end(endNanos, interruptedExit)
      ended++
    }
    return ended
  }
}

const interruptedExit: Exit.Exit<never> = Exit.interrupt()

/** The fields the pipeline needs on every span it created. */
export interface RecordedSpan {
  slot: number
  readonly sampled: boolean
  readonly status: Tracer.SpanStatus
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void
}

type SpanOptions = Parameters<Tracer.Tracer["span"]>[0]

/** A native Effect span that reports its end to the pipeline. */
export class RecordingNativeSpan extends Tracer.NativeSpan implements RecordedSpan, FinishedSpan {
  slot = -1
  traceState: string | undefined = undefined
  readonly pipeline: SpanPipeline

  constructor(options: SpanOptions, pipeline: SpanPipeline) {
    super(options)
    this.pipeline = pipeline
    if (options.sampled) this.slot = pipeline.open.add(this)
  }

  override end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    super.end(endTime, exit)
    this.pipeline.ended(this)
  }
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
  slot = -1
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
    if (inner.sampled) this.slot = pipeline.open.add(this)
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
}

/**
 * A tracer whose spans report to `pipeline` when they end. Over Effect's native tracer it creates native
 * spans itself (no extra object per span); over any other tracer it delegates.
 */
export const makeRecordingTracer = (inner: Tracer.Tracer, pipeline: SpanPipeline): Tracer.Tracer => {
  if (inner === Tracer.nativeTracer) {
    return Tracer.make({ span: (options) => new RecordingNativeSpan(options, pipeline) })
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
