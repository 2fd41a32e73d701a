/**
 * Propagation state carried in the fiber context, and the inject algorithm that reads it: the current
 * span and request (traceparent, tracestate), the remote trace a request continues (the random-trace-id
 * flag and tracestate when no request records them) and the current baggage.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Tracer from "effect/Tracer"
import {
  CurrentRecorder,
  ownerOf,
  type Recorder,
  requestOf,
  type RequestRecord,
} from "../../internal/recorder.ts"
import type { Baggage } from "./propagationModel.ts"
import { serializeBaggage } from "./baggage.ts"
import { deleteHeader, type HeadersCarrier, setHeader } from "./headers.ts"
import {
  FLAG_RANDOM,
  FLAG_SAMPLED,
  formatTraceParent,
  formatTraceState,
  isValidSpanId,
  isValidTraceId,
  mergeTraceState,
  parseTraceState,
  type TraceStateEntry,
  truncateTraceState,
} from "./traceContext.ts"

/** The empty baggage, shared. */
export const emptyBaggage: Baggage = new Map()

/** The baggage of the current fiber: set by `Http.middleware`, `Propagation.withBaggage`. */
export const CurrentBaggage: Context.Reference<Baggage> = Context.Reference<Baggage>(
  "@stagetrace/stagetrace/Propagation/CurrentBaggage",
  { defaultValue: () => emptyBaggage },
)

/** What a remote caller told us about its trace, beyond what an Effect span can hold. */
export interface RemoteTrace {
  readonly traceId: string
  readonly randomTraceId: boolean
  readonly traceState: string | undefined
}

/** The remote trace the current fiber continues, if any (set by `Propagation.withRemote`). */
export const CurrentRemoteTrace: Context.Reference<RemoteTrace | undefined> = Context.Reference<
  RemoteTrace | undefined
>("@stagetrace/stagetrace/Propagation/CurrentRemoteTrace", { defaultValue: () => undefined })

/** Turns off `Http.fetch` tracing and header injection for the effects it is provided to. */
export const TracingDisabled: Context.Reference<boolean> = Context.Reference<boolean>(
  "@stagetrace/stagetrace/Http/TracingDisabled",
  { defaultValue: () => false },
)

const MAX_DEPTH = 1024
const MAX_REQUEST_NESTING = 8

/** The root of `span`'s ancestry (a local span without parent, or an external span). */
const rootOf = (span: Tracer.AnySpan): Tracer.AnySpan => {
  let current = span
  for (
    let depth = 0;
    depth < MAX_DEPTH && current._tag === "Span" && current.parent._tag === "Some";
    depth++
  ) {
    current = current.parent.value
  }
  return current
}

const parseOrCount = (
  recorder: Recorder,
  value: string | undefined,
): ReadonlyArray<TraceStateEntry> => {
  if (value === undefined || value.length === 0) return []
  const parsed = parseTraceState(value)
  if (parsed === undefined) {
    recorder.countDrop("invalid_tracestate")
    return []
  }
  return parsed
}

/**
 * The tracestate entries of `record`'s spans: its own (`traceState`, written by the sampling concern)
 * before the upstream ones (its remote parent's tracestate, or the enclosing request's).
 */
const traceStateOf = (
  recorder: Recorder,
  record: RequestRecord,
  depth: number,
): ReadonlyArray<TraceStateEntry> => {
  const own = parseOrCount(recorder, record.traceState)
  let upstream: ReadonlyArray<TraceStateEntry>
  if (record.parentTraceState !== undefined) {
    upstream = parseOrCount(recorder, record.parentTraceState)
  } else {
    const outer = depth < MAX_REQUEST_NESTING && record.parentSpan !== undefined
      ? requestOf(ownerOf(record.parentSpan))
      : undefined
    upstream = outer === undefined || outer === record ? [] : traceStateOf(recorder, outer, depth + 1)
  }
  return mergeTraceState(own, upstream)
}

/** Trace context of the current fiber, as it would be injected. */
export interface CurrentContext {
  readonly traceId: string
  readonly spanId: string
  readonly flags: number
  readonly traceState: string | undefined
}

/** The trace context to send from `fiber`, or `undefined` when there is no valid current span. */
export const currentContext = (fiber: Fiber.Fiber<unknown, unknown>): CurrentContext | undefined => {
  const span = fiber.cache.span
  if (span === undefined || !isValidTraceId(span.traceId) || !isValidSpanId(span.spanId)) return undefined
  const recorder = fiber.getRef(CurrentRecorder)
  const request = requestOf(ownerOf(span))
  const sampled = span.sampled && (request === undefined || request.sampled)
  const root = rootOf(span)
  const remote = fiber.getRef(CurrentRemoteTrace)
  const fromRemote = remote !== undefined && remote.traceId === span.traceId ? remote : undefined
  // A trace started here has an id drawn by the tracer at random; a continued one keeps the caller's flag.
  const random = root._tag === "Span" ? true : fromRemote !== undefined && fromRemote.randomTraceId
  let entries: ReadonlyArray<TraceStateEntry> = request !== undefined
    ? traceStateOf(recorder, request, 0)
    : []
  if (request === undefined || (request.parentTraceState === undefined && root._tag !== "Span")) {
    if (fromRemote?.traceState !== undefined) {
      entries = mergeTraceState(entries, parseOrCount(recorder, fromRemote.traceState))
    }
  }
  let traceState: string | undefined
  if (entries.length > 0) {
    const kept = entries.slice()
    const removed = truncateTraceState(kept)
    if (removed > 0) recorder.countDrop("tracestate_truncated")
    traceState = kept.length > 0 ? formatTraceState(kept) : undefined
  }
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    flags: (sampled ? FLAG_SAMPLED : 0) | (random ? FLAG_RANDOM : 0),
    traceState,
  }
}

/** Writes `traceparent`, `tracestate` and `baggage` for `fiber` into `headers`. */
export const injectInto = (fiber: Fiber.Fiber<unknown, unknown>, headers: HeadersCarrier): void => {
  const context = currentContext(fiber)
  if (context !== undefined) {
    setHeader(headers, "traceparent", formatTraceParent(context.traceId, context.spanId, context.flags))
    // A tracestate belongs to the traceparent it came with: never leave a stale one next to ours.
    if (context.traceState !== undefined) setHeader(headers, "tracestate", context.traceState)
    else deleteHeader(headers, "tracestate")
  }
  const baggage = fiber.getRef(CurrentBaggage)
  if (baggage.size > 0) {
    const serialized = serializeBaggage(baggage)
    if (serialized.invalid > 0 || serialized.truncated > 0) {
      const recorder = fiber.getRef(CurrentRecorder)
      for (let i = 0; i < serialized.invalid; i++) recorder.countDrop("invalid_baggage")
      for (let i = 0; i < serialized.truncated; i++) recorder.countDrop("baggage_truncated")
    }
    if (serialized.header.length > 0) setHeader(headers, "baggage", serialized.header)
  }
}

/**
 * Runs `self` as the continuation of a remote caller (what `Propagation.withRemote` does): its baggage
 * and remote trace provided with one context update.
 */
export const withRemoteContext = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  parent: {
    readonly traceId: string
    readonly randomTraceId: boolean
    readonly traceState: string | undefined
  } | undefined,
  baggage: Baggage,
): Effect.Effect<A, E, R> => {
  const withBaggage = baggage.size > 0
  if (parent === undefined) return withBaggage ? Effect.provideService(self, CurrentBaggage, baggage) : self
  const remote: RemoteTrace = {
    traceId: parent.traceId,
    randomTraceId: parent.randomTraceId,
    traceState: parent.traceState,
  }
  return Effect.updateContext(self, (context: Context.Context<R>) => {
    const next = Context.add(context, CurrentRemoteTrace, remote)
    return withBaggage ? Context.add(next, CurrentBaggage, baggage) : next
  })
}
