/**
 * Tail sampling: a `Tracer` that wraps the tracer installed before it (the exporting one) and releases a
 * request's spans to it only when the request is kept.
 *
 * - Spans are created on the inner tracer as sampled (so the inner exporter accepts them once they end)
 *   and wrapped in a `TailSpan` whose `sampled` reports the head decision, which children and
 *   propagation read.
 * - Inside a request whose head decision is "sampled" (or forced) spans end on the inner tracer at once.
 *   Otherwise a finished span waits in the request's buffer (a linked list through the spans themselves,
 *   at most `tailBufferSize` long; past it spans are counted and the request is marked truncated) until
 *   the request ends: then the buffered spans end on the inner tracer with their original times if the
 *   request is kept, or are dropped and counted. Spans ending after the decision follow it.
 * - Spans outside any request follow the sampler's decision directly.
 * - A dropped span never ends on the inner tracer: it is discarded there (`discardSpan`), so an exporter
 *   tracking open spans neither keeps it nor ends it as interrupted at shutdown.
 *
 * The head decision itself is the `requestStart` hook below; the tail decision is the `requestEnd` hook,
 * which runs after the budget and error concerns marked the summary.
 *
 * @internal
 */
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import {
  discardSpan,
  OwnerKey,
  ownerOf,
  type Recorder,
  type RequestEndHook,
  requestOf,
  type RequestRecord,
  requestSpanAnnotations,
  type RequestStartHook,
  type StageNode,
} from "../../internal/recorder.ts"
import { ForwardingSpan } from "../../internal/forwardingSpan.ts"
import { type GatedSpan, GateKey, isGatable, type SpanGate } from "../../internal/gate.ts"
import {
  keepsNoOptions,
  noLinks,
  OptionsNotKept,
  TakesSpanTimes,
  takesSpanTimes,
} from "../../internal/spanOptions.ts"
import type { SpanTimes } from "../../stage/internal/tracking.ts"
import type { KeptBecause } from "../../stage/Request.ts"
import { alwaysOn, parentBased, type Sampler, type SamplingParent, type SamplingResult } from "../Sampler.ts"
import type { SamplingCounters, SamplingState } from "./state.ts"
import { normalizeTraceState } from "./traceState.ts"

/** The attribute set on the request span of a request kept by tail sampling (not by the head decision). */
export const keptBecauseAttribute = "stagetrace.sampling.kept_because"

const PENDING = 0
const KEPT = 1
const DROPPED = 2

const bigint0 = BigInt(0)

const noParent: Option.Option<Tracer.AnySpan> = Option.none()

/**
 * The tail-sampling state of one request, owned by its request span: the gate every span of the request
 * passes when it ends (see `SpanGate`), and the buffer of spans it holds until the decision.
 */
export class RequestTail implements SpanGate {
  decision: number
  readonly record: RequestRecord
  /** What spans of the request report as `sampled`: the head decision, or forced. */
  readonly sampled: boolean
  readonly traceState: string | undefined
  readonly counters: SamplingCounters
  readonly bufferSize: number
  count = 0
  overflowed = 0
  first: GatedSpan | undefined = undefined
  last: GatedSpan | undefined = undefined

  constructor(record: RequestRecord, sampled: boolean, traceState: string | undefined, state: SamplingState) {
    this.record = record
    this.sampled = sampled
    this.decision = sampled ? KEPT : PENDING
    this.traceState = traceState
    this.counters = state.counters
    this.bufferSize = state.tailBufferSize
  }

  /** A span of the request ended: export it now (kept), drop it, or hold it until the decision. */
  admit(span: GatedSpan): boolean {
    const decision = this.decision
    if (decision === KEPT) return true
    if (decision === DROPPED) {
      this.counters.spansDropped++
      span.discard()
    } else if (this.count < this.bufferSize) {
      this.count++
      if (this.last === undefined) this.first = span
      else this.last.heldNext = span
      this.last = span
    } else {
      this.overflowed++
      this.record.truncated = true
      this.counters.spansOverflowed++
      span.discard()
    }
    return false
  }
}

type Owned = { [OwnerKey]?: StageNode | RequestRecord; traceState?: string }

/**
 * Ends the inner span of a kept span with its original end time. The exporter sees the request's
 * tracestate as `traceState` and the stagetrace owner under `OwnerKey` (set on the proxy by the stage and
 * request wrappers), as if there were no proxy.
 */
const release = (span: TailSpan): void => {
  const inner = span.inner as Tracer.Span & Owned
  if (span.traceState !== undefined) inner.traceState = span.traceState
  const owner = (span as Owned)[OwnerKey]
  if (owner !== undefined) inner[OwnerKey] = owner
  inner.end(span.endTime, span.exit!)
}

/**
 * A span of the tail tracer: a thin proxy of the inner span whose `end` is deferred while its request's
 * decision is pending.
 */
export class TailSpan extends ForwardingSpan implements GatedSpan {
  readonly inner: Tracer.Span
  readonly tracer: TailTracer
  /** The tail state of the span's request; `undefined` outside requests. */
  tail: RequestTail | undefined
  /** The head decision, which children and propagation see as `sampled`. */
  headSampled: boolean
  /** The W3C tracestate of the span (the request's): exporters read it from the inner span. */
  traceState: string | undefined
  /** Next buffered span of the same request. */
  heldNext: GatedSpan | undefined = undefined
  endTime: bigint = bigint0
  exit: Exit.Exit<unknown, unknown> | undefined = undefined

  constructor(
    tracer: TailTracer,
    inner: Tracer.Span,
    tail: RequestTail | undefined,
    sampled: boolean,
    traceState: string | undefined,
  ) {
    super()
    this.tracer = tracer
    this.inner = inner
    this.tail = tail
    this.headSampled = sampled
    this.traceState = traceState
  }

  override get sampled(): boolean {
    return this.headSampled
  }
  override get status(): Tracer.SpanStatus {
    const exit = this.exit
    if (exit === undefined) return this.inner.status
    return { _tag: "Ended", startTime: this.inner.status.startTime, endTime: this.endTime, exit }
  }

  override end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.exit !== undefined) return
    this.endTime = endTime
    this.exit = exit
    const tail = this.tail
    if (tail === undefined) {
      if (this.headSampled) release(this)
      else this.tracer.counters.spansDropped++
      return
    }
    if (tail.admit(this)) release(this)
  }

  /** The request was kept: end the inner span with the original times. */
  release(): void {
    release(this)
  }

  /** The span was dropped: it never ends on the inner tracer. */
  discard(): void {
    discardSpan(this.inner)
  }

  override attribute(key: string, value: unknown): void {
    if (this.exit === undefined) this.inner.attribute(key, value)
  }

  override event(name: string, startTime: bigint, attributes?: Record<string, unknown>): void {
    if (this.exit === undefined) this.inner.event(name, startTime, attributes)
  }

  override addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    if (this.exit === undefined) this.inner.addLinks(links)
  }
}

const REMOTE_SAMPLED: SamplingParent = { sampled: true, remote: true }
const REMOTE_NOT_SAMPLED: SamplingParent = { sampled: false, remote: true }
const LOCAL_SAMPLED: SamplingParent = { sampled: true, remote: false }
const LOCAL_NOT_SAMPLED: SamplingParent = { sampled: false, remote: false }

const parentOf = (parent: Tracer.AnySpan): SamplingParent =>
  parent._tag === "ExternalSpan"
    ? parent.sampled ? REMOTE_SAMPLED : REMOTE_NOT_SAMPLED
    : parent.sampled
    ? LOCAL_SAMPLED
    : LOCAL_NOT_SAMPLED

/** The tracestate of a local parent: ours, or the one of the request it belongs to. */
const localTraceState = (parent: Tracer.Span): string | undefined =>
  parent instanceof TailSpan ? parent.traceState : requestOf(ownerOf(parent))?.traceState

/** A tracestate carried by an external span (set by propagation), validated. */
const externalTraceState = (parent: Tracer.ExternalSpan): string | undefined => {
  const value = (parent as { traceState?: unknown }).traceState
  return typeof value === "string" ? normalizeTraceState(value) : undefined
}

/** The tail state of the request that owns `record`, if its span is ours (or gated by us). */
const tailOf = (record: RequestRecord | undefined): RequestTail | undefined => {
  if (record === undefined) return undefined
  const span = record.span
  // The gate first: a field of stagetrace's recording spans, where `instanceof TailSpan` would walk their
  // whole prototype chain (a `TailSpan` has no gate).
  const gate = (span as { readonly gate?: SpanGate | undefined }).gate
  if (gate !== undefined) return gate instanceof RequestTail ? gate : undefined
  return span instanceof TailSpan ? span.tail : undefined
}

/** What decides when the configured sampler throws or returns something else than a decision. */
const fallbackSampler: Sampler = parentBased(alwaysOn)

/**
 * Runs the sampler. Built-in samplers never throw, but a hand-written one might: telemetry must not fail the
 * request, so a throw (or a malformed result) falls back to OpenTelemetry's default sampler and is counted
 * as the drop `sampler_error`.
 */
const decide = (sampler: Sampler, input: MutableInput, recorder: Recorder): SamplingResult => {
  try {
    const result = sampler.shouldSample(input)
    if (typeof result === "object" && result !== null && typeof result.sampled === "boolean") return result
  } catch {
    // counted below
  }
  recorder.countDrop("sampler_error")
  return fallbackSampler.shouldSample(input)
}

/** The sampler input, reused: decisions are synchronous. */
interface MutableInput {
  name: string
  traceId: string
  requestId: string | undefined
  attributes: Readonly<Record<string, unknown>> | undefined
  parent: SamplingParent | undefined
  traceState: string | undefined
}

const newInput = (): MutableInput => ({
  name: "",
  traceId: "",
  requestId: undefined,
  attributes: undefined,
  parent: undefined,
  traceState: undefined,
})

/** Span options, with the span's times when the stage wrapper gives them (`TakesSpanTimes`). */
type SpanOptions = Parameters<Tracer.Tracer["span"]>[0] & { readonly times?: SpanTimes | undefined }

/** The span options with `sampled: true`. */
const sampledOptions = (options: SpanOptions): SpanOptions => ({
  name: options.name,
  parent: options.parent,
  annotations: options.annotations,
  links: options.links,
  startTime: options.startTime,
  kind: options.kind,
  root: options.root,
  sampled: true,
  times: options.times,
})

/** The tail-sampling tracer. */
export class TailTracer implements Tracer.Tracer {
  readonly inner: Tracer.Tracer
  readonly sampler: Sampler
  readonly counters: SamplingCounters
  readonly bufferSize: number
  readonly recorder: Recorder
  readonly context?: Tracer.Tracer["context"]
  private readonly input: MutableInput = newInput()
  /** The gate of spans outside any request that the sampler declined: counted when they end. */
  private readonly declined: SpanGate
  /** Keeps no span options when its inner tracer keeps none (it copies them when it changes them). */
  readonly [OptionsNotKept]: boolean
  /** `this[OptionsNotKept]` as a plain field, which `span` reads (cheaper than a symbol-keyed load). */
  private readonly optionsNotKept: boolean
  /** Passes the span times the stage wrapper gives on when its inner tracer reads them. */
  readonly [TakesSpanTimes]: boolean
  /** The options with `sampled: true`, reused when the inner tracer keeps no options. */
  private readonly reused: { -readonly [K in keyof SpanOptions]: SpanOptions[K] } = sampledOptions({
    name: "",
    parent: noParent,
    annotations: undefined as unknown as SpanOptions["annotations"],
    links: noLinks,
    startTime: bigint0,
    kind: "internal",
    root: false,
    sampled: true,
    times: undefined,
  })

  constructor(inner: Tracer.Tracer, recorder: Recorder, state: SamplingState) {
    this.inner = inner
    this[OptionsNotKept] = this.optionsNotKept = keepsNoOptions(inner)
    this[TakesSpanTimes] = takesSpanTimes(inner)
    this.recorder = recorder
    this.sampler = state.sampler
    this.counters = state.counters
    this.bufferSize = state.tailBufferSize
    if (inner.context !== undefined) this.context = inner.context
    const counters = state.counters
    this.declined = {
      admit: () => {
        counters.spansDropped++
        return false
      },
    }
  }

  /**
   * `options` with `sampled: true` in one reused object (only for an inner tracer that keeps no options:
   * its `span` reads them synchronously and never calls back here).
   */
  private sampledOptions(options: SpanOptions): SpanOptions {
    const reused = this.reused
    reused.name = options.name
    reused.parent = options.parent
    reused.annotations = options.annotations
    reused.links = options.links
    reused.startTime = options.startTime
    reused.kind = options.kind
    reused.root = options.root
    reused.times = options.times
    return reused
  }

  span(options: SpanOptions): Tracer.Span {
    const parentOption = options.parent
    const parent = parentOption._tag === "Some" ? parentOption.value : undefined
    let tail: RequestTail | undefined
    if (parent !== undefined && parent._tag === "Span") {
      // A recording span's gate is read first (see `tailOf`): a `TailSpan` has none.
      if (
        (parent as { readonly gate?: SpanGate | undefined }).gate === undefined && parent instanceof TailSpan
      ) {
        tail = parent.tail
      } else tail = tailOf(requestOf(ownerOf(parent)))
    }
    // `sampled: false` that does not come from the parent is the program's own choice (trace levels,
    // explicit `sampled: false`): respect it and stay out of the way.
    if (!options.sampled && (parent === undefined || parent.sampled)) return this.inner.span(options)
    let inner: Tracer.Span
    if (options.sampled) inner = this.inner.span(options)
    else if (this.optionsNotKept) {
      inner = this.inner.span(this.sampledOptions(options))
      // Holds no span of an earlier request.
      this.reused.parent = noParent
      this.reused.times = undefined
    } else inner = this.inner.span(sampledOptions(options))
    if (tail !== undefined) {
      // A request kept from its start (head-sampled or forced) buffers nothing: its spans need no proxy. A
      // request kept by the tail decision still needs one, so its later spans report the head decision.
      if (tail.sampled && inner.sampled) {
        if (tail.traceState !== undefined) (inner as Tracer.Span & Owned).traceState = tail.traceState
        return inner
      }
      if (tail.decision === DROPPED) discardSpan(inner)
      // stagetrace's own recording spans take the request's gate instead of a proxy.
      if (isGatable(inner)) {
        inner[GateKey](tail, tail.sampled, tail.traceState)
        return inner
      }
      return new TailSpan(this, inner, tail, tail.sampled, tail.traceState)
    }
    // A request span outside any request: its requestStart hook, which runs right after this returns, makes
    // the head decision (with the request id and attributes) and sets `tail`, `sampled` and `traceState`.
    if (options.annotations === requestSpanAnnotations) {
      return isGatable(inner) ? inner : new TailSpan(this, inner, undefined, true, undefined)
    }
    // Outside any request: the sampler decides now, from the span's name and parent.
    const input = this.input
    input.name = options.name
    input.traceId = inner.traceId
    input.requestId = undefined
    input.attributes = undefined
    if (parent === undefined) {
      input.parent = undefined
      input.traceState = undefined
    } else {
      input.parent = parentOf(parent)
      input.traceState = parent._tag === "Span" ? localTraceState(parent) : externalTraceState(parent)
    }
    const result = decide(this.sampler, input, this.recorder)
    input.traceState = undefined
    if (!result.sampled) discardSpan(inner)
    if (isGatable(inner)) {
      if (!result.sampled) inner[GateKey](this.declined, false, result.traceState)
      else if (result.traceState !== undefined) (inner as Tracer.Span & Owned).traceState = result.traceState
      return inner
    }
    return new TailSpan(this, inner, undefined, result.sampled, result.traceState)
  }
}

/** The head decision, when a request starts. */
export const requestStartHook = (recorder: Recorder, state: SamplingState): RequestStartHook => {
  const sampler = state.sampler
  const input = newInput()
  return (record) => {
    const span = record.span
    const parent = record.parentSpan
    input.name = record.name
    input.traceId = span.traceId
    input.requestId = record.requestId
    input.attributes = record.attributes
    if (parent === undefined) {
      input.parent = undefined
      input.traceState = undefined
    } else if (parent._tag === "ExternalSpan") {
      input.parent = parent.sampled ? REMOTE_SAMPLED : REMOTE_NOT_SAMPLED
      const received = record.parentTraceState
      if (received === undefined) input.traceState = externalTraceState(parent)
      else {
        const drops = { duplicates: 0 }
        const valid = normalizeTraceState(received, drops)
        if (valid === undefined) recorder.countDrop("invalid_tracestate")
        for (let i = 0; i < drops.duplicates; i++) recorder.countDrop("tracestate_duplicate")
        input.traceState = valid
      }
    } else {
      input.parent = parent.sampled ? LOCAL_SAMPLED : LOCAL_NOT_SAMPLED
      input.traceState = localTraceState(parent)
    }
    const result = decide(sampler, input, recorder)
    input.attributes = undefined
    input.traceState = undefined
    record.sampled = result.sampled
    record.traceState = result.traceState
    const sampled = result.sampled || record.force
    if (span instanceof TailSpan) {
      span.tail = new RequestTail(record, sampled, result.traceState, state)
      span.headSampled = sampled
      span.traceState = result.traceState
    } else if (isGatable(span)) {
      span[GateKey](new RequestTail(record, sampled, result.traceState, state), sampled, result.traceState)
    }
  }
}

/** The tail decision, when a request ends (after budgets and errors marked the summary). */
export const requestEndHook = (recorder: Recorder, state: SamplingState): RequestEndHook => {
  const counters = state.counters
  const slowMs = state.keepSlowerThanMs
  return (record, summary) => {
    let reason: KeptBecause | undefined
    if (record.sampled) reason = "head"
    else if (record.force) reason = "forced"
    else if (!summary.success) reason = "error"
    else if (summary.overBudget) reason = "budget"
    else if (slowMs !== undefined && summary.durationMs >= slowMs) reason = "slow"
    summary.sampled = record.sampled
    summary.keptBecause = reason
    if (reason === undefined) counters.requestsDropped++
    else counters.requestsKept[reason]++
    const span = record.span
    const tail = tailOf(record)
    if (tail === undefined || tail.record !== record) return
    if (tail.decision === PENDING) {
      const keep = reason !== undefined
      tail.decision = keep ? KEPT : DROPPED
      if (!keep) counters.spansDropped += tail.count
      let buffered = tail.first
      while (buffered !== undefined) {
        const next = buffered.heldNext
        buffered.heldNext = undefined
        if (keep) buffered.release()
        else buffered.discard()
        buffered = next
      }
      tail.first = undefined
      tail.last = undefined
      tail.count = 0
    }
    if (tail.overflowed > 0) {
      summary.truncated = true
      if (reason !== undefined) {
        recorder.drops.set(
          "tail_buffer_full",
          (recorder.drops.get("tail_buffer_full") ?? 0) + tail.overflowed,
        )
      }
    }
    if (reason !== undefined && reason !== "head") span.attribute(keptBecauseAttribute, reason)
  }
}
