/**
 * OTLP trace encoding straight from finished Effect spans, in both OTLP/HTTP encodings: protobuf through
 * the reusable `ProtoWriter`, JSON by string building (no intermediate OTLP objects, no `JSON.stringify` of
 * the whole request). Attribute values follow OTLP's `AnyValue` rules; the redactor, when installed, is
 * applied to every attribute and event attribute on the way out.
 *
 * @internal
 */
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type { RedactorLike } from "../../internal/slots.ts"
import { type Timeline, UntimedTimeline } from "../../internal/clock.ts"
import {
  type DeferredStage,
  type DeferringSpan,
  materializeStageAttributes,
} from "../../internal/stageAttributes.ts"
import { errorOf, type SpanTimes } from "../../stage/internal/tracking.ts"
import {
  copyRecords,
  type JsonWriter,
  ProtoWriter,
  type SlabRecord,
  varintSize,
  writeVarintAt,
} from "./protobuf.ts"

/** What the encoders read from a finished span (an Effect `NativeSpan` or the recording span). */
export interface FinishedSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parent: Option.Option<Tracer.AnySpan>
  readonly kind: Tracer.SpanKind
  readonly links: ReadonlyArray<Tracer.SpanLink>
  readonly status: Tracer.SpanStatus
  readonly _attributes: Map<string, unknown> | undefined
  readonly _events: ReadonlyArray<SpanEvent> | undefined
  /** W3C tracestate of the span (set by the sampling concern). */
  readonly traceState?: string | undefined
  /** Stage attributes the span deferred (stagetrace's own spans): they come before `_attributes`. */
  readonly deferredStage?: DeferredStage | undefined
  readonly deferredRequestId?: string | undefined
  /** Attributes the span deferred (see `stageAttributes.ts`): written into its map before it is exported. */
  readonly deferredPairs?: Array<unknown> | undefined
  /**
   * The span's times as instants of a timeline (stagetrace's `LocalSpan`s): the encoders read them instead
   * of the BigInts of `status`, with `exit`, the exit the span ended with.
   */
  readonly times?: SpanTimes | undefined
  readonly exit?: Exit.Exit<unknown, unknown> | undefined
}

/**
 * The encoded resource and instrumentation scope, cached per exporter: protobuf messages (`Uint8Array`) or
 * JSON members (`string`).
 */
export interface CachedResource<T> {
  readonly resource: T
  readonly scope: T
}

/** The resource and instrumentation scope every batch is reported under. */
export interface OtlpResource {
  readonly attributes: ReadonlyArray<readonly [string, unknown]>
  readonly scopeName: string
  readonly scopeVersion: string
}

// ---------------------------------------------------------------------------------------------------------
// Shared value rules
// ---------------------------------------------------------------------------------------------------------

const INT64_BOUND = 2 ** 63
const MIN_INT64 = -(2n ** 63n)
const MAX_INT64 = 2n ** 63n - 1n

/** Span kinds as OTLP enum values. */
export const spanKindCode: Readonly<Record<Tracer.SpanKind, number>> = {
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
}

/** A string for values OTLP has no type for (objects, symbols, functions). */
export const formatUnknown = (value: unknown): string => {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString()
  if (typeof value === "symbol") return value.toString()
  if (typeof value === "function") return `[function ${value.name}]`
  try {
    const json = JSON.stringify(value, (_k, v) => typeof v === "bigint" ? String(v) : v)
    return json ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Span status derived from the exit: OTLP code, message and whether it was an interruption. */
export interface SpanOutcome {
  readonly code: 0 | 1 | 2
  readonly message: string | undefined
  readonly interrupted: boolean
  readonly errorType: string | undefined
}

const ok: SpanOutcome = { code: 1, message: undefined, interrupted: false, errorType: undefined }
const interruptedOutcome: SpanOutcome = {
  code: 0,
  message: undefined,
  interrupted: true,
  errorType: undefined,
}

/** The OTLP status of a span from its exit. */
export const outcomeOfExit = (exit: Exit.Exit<unknown, unknown>): SpanOutcome => {
  if (exit._tag === "Success") return ok
  const reasons = exit.cause.reasons
  if (reasons.length > 0 && reasons.every((r) => r._tag === "Interrupt")) return interruptedOutcome
  const error = errorOf(exit.cause)
  return { code: 2, message: error.message, interrupted: false, errorType: error.type }
}

/** A span event as Effect keeps it: name, epoch nanoseconds, attributes. */
export type SpanEvent = readonly [
  name: string,
  timeNanos: bigint,
  attributes: Record<string, unknown> | undefined,
]

/** The attribute every exporter sets on a span that ended by interruption (its status stays unset). */
export const interruptedAttribute = "effect.fiber.interrupted"

/**
 * The `exception` event (OpenTelemetry semantic conventions) of a failed span, at its end time: the one
 * place that builds it, so the OTLP encoders and `Exporter.memory()` show the same span. `undefined` for a
 * span that did not fail.
 */
export const exceptionEvent = (outcome: SpanOutcome, endTime: bigint): SpanEvent | undefined =>
  outcome.code !== 2 ? undefined : [
    "exception",
    endTime,
    { "exception.type": outcome.errorType, "exception.message": outcome.message ?? "" },
  ]

const endedOf = (span: FinishedSpan) => span.status as Extract<Tracer.SpanStatus, { _tag: "Ended" }>

const TWO_32 = 2 ** 32

/** The last timeline `protoInstant` wrote an instant of, and its base split in 32-bit halves. */
let splitTimeline: Timeline | undefined
let splitHi = 0
let splitLo = 0

/**
 * Writes instant `at` of `timeline` as a fixed64 field: `timeline.nanos(at)`, without making the BigInt
 * (the base is split once per timeline; the halves stay exact in doubles).
 */
const protoInstant = (w: ProtoWriter, field: number, timeline: Timeline, at: number): void => {
  if (timeline !== splitTimeline) {
    const base = timeline.base
    splitHi = Number(base >> 32n)
    splitLo = Number(base & 0xffffffffn)
    splitTimeline = timeline
  }
  const sum = splitLo + at
  const carry = Math.floor(sum / TWO_32)
  const hi = splitHi + carry
  if (timeline instanceof UntimedTimeline || !Number.isSafeInteger(sum) || hi < 0 || hi >= TWO_32) {
    w.fixed64(field, timeline.nanos(at))
  } else w.fixed64Halves(field, hi, sum - carry * TWO_32)
}

/** Deferred pairs encoded as they are at most (more keys: the map, whose duplicate check is linear). */
const maxDirectPairs = 64

/**
 * The attributes `span` deferred as `key, value…` pairs (`stageAttributes.ts`) when they can be encoded as
 * they are, without building its attribute map: the span has no map and no deferred stage attributes, and
 * no key was written twice, so the pairs are exactly the map's entries in its order. Otherwise the pairs
 * (if any) are written into the span's map, which the encoders then read, and the answer is `undefined`.
 * Read it before `deferredStage` and `_attributes` (it may move the stage attributes into the map).
 */
export const directPairs = (span: FinishedSpan): ReadonlyArray<unknown> | undefined => {
  const pairs = span.deferredPairs
  if (pairs === undefined) return undefined
  const length = pairs.length
  if (span._attributes === undefined && span.deferredStage === undefined && length <= maxDirectPairs) {
    let distinct = true
    for (let i = 2; i < length && distinct; i += 2) {
      const key = pairs[i]
      for (let j = 0; j < i; j += 2) {
        if (pairs[j] === key) {
          distinct = false
          break
        }
      }
    }
    if (distinct) return pairs
  }
  materializeStageAttributes(span as FinishedSpan & DeferringSpan)
  return undefined
}

/** An attribute value as exported: redacted when a redactor is installed. */
export const redactAttr = (redactor: RedactorLike | undefined, key: string, value: unknown): unknown =>
  redactor === undefined ? value : redactor.redactValue(key, value)

// ---------------------------------------------------------------------------------------------------------
// Protobuf
// ---------------------------------------------------------------------------------------------------------

/** Writes an `AnyValue` as field `field` of the current message. */
export const protoAnyValue = (w: ProtoWriter, field: number, value: unknown, depth: number): void => {
  const start = w.begin(field, 1)
  switch (typeof value) {
    case "string":
      w.string(1, value)
      break
    case "boolean":
      w.bool(2, value)
      break
    case "number":
      if (Number.isInteger(value) && value >= -INT64_BOUND && value < INT64_BOUND) {
        if (Number.isSafeInteger(value)) w.int64(3, value)
        else w.int64Big(3, BigInt(value))
      } else w.double(4, value)
      break
    case "bigint":
      if (value >= MIN_INT64 && value <= MAX_INT64) w.int64Big(3, value)
      else w.string(1, String(value))
      break
    default:
      if (Array.isArray(value) && depth < 4) {
        const array = w.begin(5, 2)
        for (let i = 0; i < value.length; i++) {
          const item = value[i]
          if (item === undefined || item === null) continue
          protoAnyValue(w, 1, item, depth + 1)
        }
        w.end(array, 2)
      } else {
        w.string(1, formatUnknown(value))
      }
  }
  w.end(start, 1)
}

/** Writes one `KeyValue` as field `field`; `undefined`/`null` values are skipped. */
export const protoKeyValue = (w: ProtoWriter, field: number, key: string, value: unknown): void => {
  if (value === undefined || value === null) return
  const start = w.begin(field, 1)
  w.string(1, key)
  protoAnyValue(w, 2, value, 0)
  w.end(start, 1)
}

/** The encoded `Resource` message (field 1 of ResourceSpans/ResourceMetrics/ResourceLogs), cached. */
export const protoResourceAndScope = (
  w: ProtoWriter,
  resource: OtlpResource,
): CachedResource<Uint8Array> => {
  w.reset()
  const r = w.begin(1, 2)
  for (const [key, value] of resource.attributes) protoKeyValue(w, 1, key, value)
  w.end(r, 2)
  const resourceBytes = w.finish()
  w.reset()
  const s = w.begin(1, 1)
  w.string(1, resource.scopeName)
  w.string(2, resource.scopeVersion)
  w.end(s, 1)
  const scopeBytes = w.finish()
  w.reset()
  return { resource: resourceBytes, scope: scopeBytes }
}

/**
 * Writes one `ResourceSpans`/`ResourceMetrics`/`ResourceLogs` (field 1 of the export request) holding the
 * cached resource and one scope entry with the cached scope, whose records `records` writes (field 2 of the
 * scope entry). The three signals share this layout.
 */
export const protoResourceScope = (
  w: ProtoWriter,
  cached: CachedResource<Uint8Array>,
  records: () => void,
): void => {
  const resource = w.begin(1, 5)
  w.raw(cached.resource)
  const scope = w.begin(2, 5)
  w.raw(cached.scope)
  records()
  w.end(scope, 5)
  w.end(resource, 5)
}

const protoEvent = (w: ProtoWriter, [name, time, attrs]: SpanEvent, redactor: RedactorLike | undefined) => {
  const e = w.begin(11, 1)
  w.fixed64(1, time)
  w.string(2, redactor === undefined ? name : redactor.redactString(name))
  if (attrs !== undefined) {
    for (const key in attrs) protoKeyValue(w, 3, key, redactAttr(redactor, key, attrs[key]))
  }
  w.end(e, 1)
}

/** The deferred stage attributes of a span (field 9 `KeyValue`s), in the order `materializeStageAttributes` uses. */
const protoStageAttributes = (
  w: ProtoWriter,
  deferred: DeferredStage,
  redactor: RedactorLike | undefined,
): void => {
  protoKeyValue(w, 9, "stage.id", redactAttr(redactor, "stage.id", deferred.stageId))
  protoKeyValue(w, 9, "stage.name", redactAttr(redactor, "stage.name", deferred.name))
  const keys = deferred.metadataKeys
  for (let i = 0; i < keys.length; i++) {
    protoKeyValue(w, 9, keys[i]!, redactAttr(redactor, keys[i]!, deferred.metadata[keys[i]!]))
  }
}

/** What a span of a stage encodes the same way every time: its name and its stage attributes. */
interface EncodedStage {
  /** The span name the bytes are for (a stage span is named after its stage). */
  readonly name: string
  /** Field 5 (the name), tag included. */
  readonly nameBytes: Uint8Array
  /** The `stage.id`, `stage.name` and metadata `KeyValue`s (field 9), tags included. */
  readonly attributes: Uint8Array
}

/** Whether a metadata value encodes the same way every time (no object that could change). */
const isStableValue = (value: unknown): boolean => {
  const type = typeof value
  return value === undefined || value === null || type === "string" || type === "number" ||
    type === "boolean" || type === "bigint"
}

/**
 * The encoding of the last value of one span field, in a buffer reused from value to value (no allocation
 * per value): the spans of a request share their trace id, parent and request id, and mostly end one after
 * the other.
 */
class LastField {
  value: string | undefined = undefined
  bytes = new Uint8Array(64)
  length = 0

  /** Writes the cached encoding when `value` is the last one seen; returns whether it did. */
  writeIfSame(w: ProtoWriter, value: string): boolean {
    if (value !== this.value) return false
    const length = this.length
    w.ensure(length)
    const buf = w.buf
    const bytes = this.bytes
    let pos = w.pos
    for (let i = 0; i < length; i++) buf[pos++] = bytes[i]!
    w.pos = pos
    return true
  }

  /** Remembers what was written to `w` since `start` as the encoding of `value`. */
  remember(w: ProtoWriter, start: number, value: string): void {
    const length = w.pos - start
    if (length > this.bytes.length) this.bytes = new Uint8Array(length * 2)
    // A loop, not `set` of a `subarray`: no view allocated per value.
    const bytes = this.bytes
    const buf = w.buf
    for (let i = 0; i < length; i++) bytes[i] = buf[start + i]!
    this.length = length
    this.value = value
  }
}

/**
 * What one span encoder reuses from span to span, for the parts of stage spans that repeat: a stage's name
 * and attributes (encoded once per stage, for as long as the stage exists), and the trace id, parent span
 * id and `request.id` attribute the spans of a request share (the last ones seen). Everything is redacted
 * when it is encoded; a different redactor empties the cache.
 */
export class ProtoSpanCache {
  private redactor: RedactorLike | undefined | null = null
  private stages = new WeakMap<DeferredStage, EncodedStage | false>()
  private readonly scratch = new ProtoWriter(256)
  private readonly traceId = new LastField()
  private readonly traceState = new LastField()
  private readonly parentId = new LastField()
  private readonly requestIdField = new LastField()

  /** Writes the trace id (field 1) of a span. */
  writeTraceId(w: ProtoWriter, traceId: string): void {
    if (this.traceId.writeIfSame(w, traceId)) return
    const start = w.pos
    w.hexBytes(1, traceId.length === 32 ? traceId : traceId.padStart(32, "0"))
    this.traceId.remember(w, start, traceId)
  }

  /** Writes the W3C tracestate (field 3) of a span: its request's, shared by all the request's spans. */
  writeTraceState(w: ProtoWriter, traceState: string): void {
    if (this.traceState.writeIfSame(w, traceState)) return
    const start = w.pos
    w.string(3, traceState)
    this.traceState.remember(w, start, traceState)
  }

  /** Writes the parent span id (field 4) of a span. */
  writeParentId(w: ProtoWriter, spanId: string): void {
    if (this.parentId.writeIfSame(w, spanId)) return
    const start = w.pos
    w.hexBytes(4, spanId)
    this.parentId.remember(w, start, spanId)
  }

  /** Writes the `request.id` attribute (field 9) of a stage span. */
  writeRequestId(w: ProtoWriter, requestId: string): void {
    if (this.requestIdField.writeIfSame(w, requestId)) return
    const start = w.pos
    protoKeyValue(w, 9, "request.id", redactAttr(this.redactor ?? undefined, "request.id", requestId))
    this.requestIdField.remember(w, start, requestId)
  }

  /** Called before each span: forgets what was encoded under another redactor. */
  use(redactor: RedactorLike | undefined): void {
    if (redactor === this.redactor) return
    this.redactor = redactor
    this.stages = new WeakMap()
    this.requestIdField.value = undefined
  }

  /** The encoded name and attributes of `deferred`, or `undefined` when its metadata may change. */
  stage(deferred: DeferredStage): EncodedStage | undefined {
    const hit = this.stages.get(deferred)
    if (hit !== undefined) return hit === false ? undefined : hit
    const metadata = deferred.metadata
    const keys = deferred.metadataKeys
    for (let i = 0; i < keys.length; i++) {
      if (!isStableValue(metadata[keys[i]!])) {
        this.stages.set(deferred, false)
        return undefined
      }
    }
    const w = this.scratch
    w.reset()
    w.string(5, deferred.name)
    const nameBytes = w.finish()
    w.reset()
    protoStageAttributes(w, deferred, this.redactor ?? undefined)
    const encoded: EncodedStage = { name: deferred.name, nameBytes, attributes: w.finish() }
    this.stages.set(deferred, encoded)
    return encoded
  }
}

/**
 * Writes one span as field 2 of `ScopeSpans` (what `encodeEncodedTracesProto` concatenates). With `cache`,
 * the parts of stage spans that repeat are copied from earlier encodings (the same bytes).
 */
export const protoSpan = (
  w: ProtoWriter,
  span: FinishedSpan,
  redactor: RedactorLike | undefined,
  cache?: ProtoSpanCache,
): void => {
  const times = span.times
  const ended = times === undefined ? endedOf(span) : undefined
  const pairs = directPairs(span)
  const start = w.begin(2, 2)
  const traceId = span.traceId
  if (cache !== undefined) cache.writeTraceId(w, traceId)
  else w.hexBytes(1, traceId.length === 32 ? traceId : traceId.padStart(32, "0"))
  w.hexBytes(2, span.spanId)
  const traceState = span.traceState
  if (traceState !== undefined && traceState !== "") {
    if (cache !== undefined) cache.writeTraceState(w, traceState)
    else w.string(3, traceState)
  }
  const parent = span.parent
  if (parent._tag === "Some") {
    if (cache !== undefined) cache.writeParentId(w, parent.value.spanId)
    else w.hexBytes(4, parent.value.spanId)
  }
  const deferred = span.deferredStage
  let encoded: EncodedStage | undefined
  if (deferred !== undefined && cache !== undefined) {
    cache.use(redactor)
    encoded = cache.stage(deferred)
  }
  if (encoded !== undefined && encoded.name === span.name) w.raw(encoded.nameBytes)
  else w.string(5, span.name)
  w.uint(6, spanKindCode[span.kind] ?? 1)
  if (ended === undefined) {
    protoInstant(w, 7, times!.timeline, times!.startAt)
    protoInstant(w, 8, times!.timeline, times!.endAt)
  } else {
    w.fixed64(7, ended.startTime)
    w.fixed64(8, ended.endTime)
  }
  if (deferred !== undefined) {
    const requestId = span.deferredRequestId
    if (requestId !== undefined) {
      if (cache !== undefined) cache.writeRequestId(w, requestId)
      else protoKeyValue(w, 9, "request.id", redactAttr(redactor, "request.id", requestId))
    }
    if (encoded !== undefined) w.raw(encoded.attributes)
    else protoStageAttributes(w, deferred, redactor)
  }
  const attributes = span._attributes
  if (attributes !== undefined) {
    for (const [key, value] of attributes) protoKeyValue(w, 9, key, redactAttr(redactor, key, value))
  }
  if (pairs !== undefined) {
    for (let i = 0; i < pairs.length; i += 2) {
      const key = pairs[i] as string
      protoKeyValue(w, 9, key, redactAttr(redactor, key, pairs[i + 1]))
    }
  }
  const outcome = outcomeOfExit(ended === undefined ? span.exit! : ended.exit)
  if (outcome.interrupted) protoKeyValue(w, 9, interruptedAttribute, true)
  const events = span._events
  if (events !== undefined) { for (let i = 0; i < events.length; i++) protoEvent(w, events[i]!, redactor) }
  const exception = outcome.code !== 2
    ? undefined
    : exceptionEvent(outcome, ended === undefined ? times!.timeline.nanos(times!.endAt) : ended.endTime)
  if (exception !== undefined) protoEvent(w, exception, redactor)
  const links = span.links
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!
    const l = w.begin(13, 1)
    w.hexBytes(1, link.span.traceId.padStart(32, "0"))
    w.hexBytes(2, link.span.spanId)
    for (const key in link.attributes) {
      protoKeyValue(w, 4, key, redactAttr(redactor, key, link.attributes[key]))
    }
    w.end(l, 1)
  }
  const status = w.begin(15, 1)
  if (outcome.message !== undefined && outcome.message !== "") {
    w.string(2, redactor === undefined ? outcome.message : redactor.redactString(outcome.message))
  }
  if (outcome.code !== 0) w.uint(3, outcome.code)
  w.end(status, 1)
  w.end(start, 2)
}

/** Encodes spans as an `ExportTraceServiceRequest` (protobuf). */
export const encodeTracesProto = (
  w: ProtoWriter,
  cached: CachedResource<Uint8Array>,
  spans: ArrayLike<FinishedSpan>,
  redactor: RedactorLike | undefined,
): Uint8Array => {
  w.reset()
  protoResourceScope(w, cached, () => {
    for (let i = 0; i < spans.length; i++) protoSpan(w, spans[i]!, redactor)
  })
  return w.finish()
}

/**
 * An `ExportTraceServiceRequest` (protobuf) from spans already encoded one by one with `protoSpan`: the
 * cached resource and scope around the spans' bytes. The lengths are known up front, so the request is
 * written once into a buffer of its exact size (no length fix-up moving the spans, no final copy); `w` is
 * no longer needed and kept for the signature.
 */
export const encodeEncodedTracesProto = (
  _w: ProtoWriter,
  cached: CachedResource<Uint8Array>,
  spans: ReadonlyArray<SlabRecord>,
): Uint8Array => {
  let spansLength = 0
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!
    spansLength += span.end - span.start
  }
  // ScopeSpans = scope (cached, tag included) + spans; ResourceSpans = resource (cached) + field 2 ScopeSpans;
  // the request = field 1 ResourceSpans. Both fields are length-delimited with tag bytes 0x12 and 0x0a.
  const scopeLength = cached.scope.length + spansLength
  const resourceLength = cached.resource.length + 1 + varintSize(scopeLength) + scopeLength
  // A bare array, not a `ProtoWriter` (no writer, no `DataView` per batch).
  const out = new Uint8Array(1 + varintSize(resourceLength) + resourceLength)
  out[0] = 0x0a
  let pos = writeVarintAt(out, 1, resourceLength)
  out.set(cached.resource, pos)
  pos += cached.resource.length
  out[pos++] = 0x12
  pos = writeVarintAt(out, pos, scopeLength)
  out.set(cached.scope, pos)
  copyRecords(out, pos + cached.scope.length, spans)
  return out
}

// ---------------------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------------------

// deno-lint-ignore no-control-regex
const needsEscape = /["\\\u0000-\u001f\u007f-\uffff]/

/** A JSON string literal; plain ASCII skips `JSON.stringify`. */
export const jsonString = (value: string): string =>
  value.length < 64 && !needsEscape.test(value) ? `"${value}"` : JSON.stringify(value)

/** An `AnyValue` as JSON. */
export const jsonAnyValue = (value: unknown, depth: number): string => {
  switch (typeof value) {
    case "string":
      return `{"stringValue":${jsonString(value)}}`
    case "boolean":
      return value ? `{"boolValue":true}` : `{"boolValue":false}`
    case "number":
      if (Number.isInteger(value) && value >= -INT64_BOUND && value < INT64_BOUND) {
        return Number.isSafeInteger(value) ? `{"intValue":"${value}"}` : `{"intValue":"${BigInt(value)}"}`
      }
      return Number.isFinite(value) ? `{"doubleValue":${value}}` : `{"doubleValue":"${value}"}`
    case "bigint":
      return value >= MIN_INT64 && value <= MAX_INT64
        ? `{"intValue":"${value}"}`
        : `{"stringValue":"${value}"}`
    default:
      if (Array.isArray(value) && depth < 4) {
        let out = `{"arrayValue":{"values":[`
        let first = true
        for (let i = 0; i < value.length; i++) {
          const item = value[i]
          if (item === undefined || item === null) continue
          out += (first ? "" : ",") + jsonAnyValue(item, depth + 1)
          first = false
        }
        return out + "]}}"
      }
      return `{"stringValue":${JSON.stringify(formatUnknown(value))}}`
  }
}

/** One `KeyValue` as JSON, or `""` for `undefined`/`null` values. */
export const jsonKeyValue = (key: string, value: unknown): string =>
  value === undefined || value === null ? "" : `{"key":${jsonString(key)},"value":${jsonAnyValue(value, 0)}}`

/** A comma-joined list of `KeyValue`s from entries. */
export const jsonAttributes = (
  entries: Iterable<readonly [string, unknown]>,
  redactor: RedactorLike | undefined,
): string => {
  let out = ""
  for (const [key, value] of entries) {
    const kv = jsonKeyValue(key, redactAttr(redactor, key, value))
    if (kv === "") continue
    out += out === "" ? kv : "," + kv
  }
  return out
}

/** The JSON `"resource":{…}` and `"scope":{…}` members, cached per exporter. */
export const jsonResourceAndScope = (
  resource: OtlpResource,
): CachedResource<string> => ({
  resource: `"resource":{"attributes":[${jsonAttributes(resource.attributes, undefined)}]}`,
  scope: `"scope":{"name":${jsonString(resource.scopeName)},"version":${jsonString(resource.scopeVersion)}}`,
})

/** Writes an `AnyValue` as JSON bytes. */
export const jsonAnyValueBytes = (w: JsonWriter, value: unknown, depth: number): void => {
  switch (typeof value) {
    case "string":
      w.ascii(`{"stringValue":`)
      w.str(value)
      w.ascii("}")
      return
    case "boolean":
      w.ascii(value ? `{"boolValue":true}` : `{"boolValue":false}`)
      return
    case "number":
      if (Number.isInteger(value) && value >= -INT64_BOUND && value < INT64_BOUND) {
        w.ascii(Number.isSafeInteger(value) ? `{"intValue":"${value}"}` : `{"intValue":"${BigInt(value)}"}`)
      } else {
        w.ascii(`{"doubleValue":`)
        w.num(value)
        w.ascii("}")
      }
      return
    case "bigint":
      w.ascii(
        value >= MIN_INT64 && value <= MAX_INT64 ? `{"intValue":"${value}"}` : `{"stringValue":"${value}"}`,
      )
      return
    default:
      if (Array.isArray(value) && depth < 4) {
        w.ascii(`{"arrayValue":{"values":[`)
        let first = true
        for (let i = 0; i < value.length; i++) {
          const item = value[i]
          if (item === undefined || item === null) continue
          if (!first) w.ascii(",")
          jsonAnyValueBytes(w, item, depth + 1)
          first = false
        }
        w.ascii("]}}")
        return
      }
      w.ascii(`{"stringValue":`)
      w.str(formatUnknown(value))
      w.ascii("}")
  }
}

/** Writes one `KeyValue` (preceded by a comma unless `first`); returns whether it wrote anything. */
const jsonKeyValueBytes = (w: JsonWriter, key: string, value: unknown, first: boolean): boolean => {
  if (value === undefined || value === null) return false
  w.ascii(first ? `{"key":` : `,{"key":`)
  w.str(key)
  w.ascii(`,"value":`)
  jsonAnyValueBytes(w, value, 0)
  w.ascii("}")
  return true
}

const jsonRecordBytes = (
  w: JsonWriter,
  record: Record<string, unknown>,
  redactor: RedactorLike | undefined,
) => {
  let first = true
  for (const key in record) {
    if (jsonKeyValueBytes(w, key, redactAttr(redactor, key, record[key]), first)) first = false
  }
}

const jsonEventBytes = (
  w: JsonWriter,
  [name, time, attrs]: SpanEvent,
  first: boolean,
  redactor: RedactorLike | undefined,
) => {
  w.ascii(`${first ? "" : ","}{"timeUnixNano":"${time}","name":`)
  w.str(redactor === undefined ? name : redactor.redactString(name))
  w.ascii(`,"attributes":[`)
  if (attrs !== undefined) jsonRecordBytes(w, attrs, redactor)
  w.ascii("]}")
}

/** Writes one span as a JSON object (what `encodeEncodedTracesJson` joins). */
export const jsonSpanBytes = (
  w: JsonWriter,
  span: FinishedSpan,
  redactor: RedactorLike | undefined,
): void => {
  const pairs = directPairs(span)
  const ended = endedOf(span)
  const outcome = outcomeOfExit(ended.exit)
  w.ascii(`{"traceId":"`)
  w.ascii(span.traceId.length === 32 ? span.traceId : span.traceId.padStart(32, "0"))
  w.ascii(`","spanId":"`)
  w.ascii(span.spanId)
  w.ascii(`"`)
  if (span.traceState !== undefined && span.traceState !== "") {
    w.ascii(`,"traceState":`)
    w.str(span.traceState)
  }
  if (span.parent._tag === "Some") {
    w.ascii(`,"parentSpanId":"`)
    w.ascii(span.parent.value.spanId)
    w.ascii(`"`)
  }
  w.ascii(`,"name":`)
  w.str(span.name)
  w.ascii(
    `,"kind":${
      spanKindCode[span.kind] ?? 1
    },"startTimeUnixNano":"${ended.startTime}","endTimeUnixNano":"${ended.endTime}","attributes":[`,
  )
  let first = true
  const deferred = span.deferredStage
  if (deferred !== undefined) {
    const requestId = span.deferredRequestId
    if (requestId !== undefined) {
      if (jsonKeyValueBytes(w, "request.id", redactAttr(redactor, "request.id", requestId), first)) {
        first = false
      }
    }
    if (jsonKeyValueBytes(w, "stage.id", redactAttr(redactor, "stage.id", deferred.stageId), first)) {
      first = false
    }
    if (jsonKeyValueBytes(w, "stage.name", redactAttr(redactor, "stage.name", deferred.name), first)) {
      first = false
    }
    const keys = deferred.metadataKeys
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (jsonKeyValueBytes(w, key, redactAttr(redactor, key, deferred.metadata[key]), first)) first = false
    }
  }
  const attributes = span._attributes
  if (attributes !== undefined) {
    for (const [key, value] of attributes) {
      if (jsonKeyValueBytes(w, key, redactAttr(redactor, key, value), first)) first = false
    }
  }
  if (pairs !== undefined) {
    for (let i = 0; i < pairs.length; i += 2) {
      const key = pairs[i] as string
      if (jsonKeyValueBytes(w, key, redactAttr(redactor, key, pairs[i + 1]), first)) first = false
    }
  }
  if (outcome.interrupted) jsonKeyValueBytes(w, interruptedAttribute, true, first)
  w.ascii(`],"events":[`)
  const events = span._events
  first = true
  if (events !== undefined) {
    for (let i = 0; i < events.length; i++) {
      jsonEventBytes(w, events[i]!, first, redactor)
      first = false
    }
  }
  const exception = exceptionEvent(outcome, ended.endTime)
  if (exception !== undefined) jsonEventBytes(w, exception, first, redactor)
  const message = outcome.message === undefined || redactor === undefined
    ? outcome.message
    : redactor.redactString(outcome.message)
  w.ascii(`],"links":[`)
  for (let i = 0; i < span.links.length; i++) {
    const link = span.links[i]!
    w.ascii(
      `${i === 0 ? "" : ","}{"traceId":"${
        link.span.traceId.padStart(32, "0")
      }","spanId":"${link.span.spanId}","attributes":[`,
    )
    jsonRecordBytes(w, link.attributes, redactor)
    w.ascii("]}")
  }
  w.ascii(`],"status":{`)
  const hasMessage = message !== undefined && message !== ""
  if (hasMessage) {
    w.ascii(`"message":`)
    w.str(message)
  }
  if (outcome.code !== 0) w.ascii(`${hasMessage ? "," : ""}"code":${outcome.code}`)
  w.ascii("}}")
}

/** Resets `w` and writes an OTLP/JSON `ExportTraceServiceRequest` up to its first span. */
const jsonTracesStart = (w: JsonWriter, cached: CachedResource<string>): void => {
  w.reset()
  w.ascii(`{"resourceSpans":[{`)
  w.utf8(cached.resource)
  w.ascii(`,"scopeSpans":[{`)
  w.utf8(cached.scope)
  w.ascii(`,"spans":[`)
}

/** Encodes spans as an `ExportTraceServiceRequest` in OTLP/JSON (UTF-8 bytes). */
export const encodeTracesJson = (
  w: JsonWriter,
  cached: CachedResource<string>,
  spans: ArrayLike<FinishedSpan>,
  redactor: RedactorLike | undefined,
): Uint8Array => {
  jsonTracesStart(w, cached)
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) w.ascii(",")
    jsonSpanBytes(w, spans[i]!, redactor)
  }
  w.ascii("]}]}]}")
  return w.finish()
}

/** An `ExportTraceServiceRequest` in OTLP/JSON from spans already encoded one by one with `jsonSpanBytes`. */
export const encodeEncodedTracesJson = (
  w: JsonWriter,
  cached: CachedResource<string>,
  spans: ReadonlyArray<SlabRecord>,
): Uint8Array => {
  jsonTracesStart(w, cached)
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!
    const length = span.end - span.start
    w.ensure(length + 1)
    if (i > 0) w.buf[w.pos++] = 44
    w.buf.set(span.buf.subarray(span.start, span.end), w.pos)
    w.pos += length
  }
  w.ascii("]}]}]}")
  return w.finish()
}

/** Bytes of a varint (re-exported for size estimates in tests). */
export { varintSize }
