/**
 * The public models of `Propagation` that the propagation machinery reads (baggage, the extracted remote
 * context), declared below the public module so that the two do not import each other. `Propagation.ts`
 * re-exports this module whole (`export *`), so everything exported here is public as
 * `Propagation.<name>`.
 *
 * @module
 */
import type { RemoteParent } from "../../stage/Request.ts"

/**
 * A baggage property (`;key` or `;key=value` after a value), kept as received: the specification gives
 * properties no encoding or meaning.
 *
 * @category models
 * @since 0.1.0
 */
export interface BaggageProperty {
  /** The property key (an RFC 9110 token). */
  readonly key: string
  /** The property value as received (not percent-decoded); absent for a `;key` property. */
  readonly value?: string | undefined
}

/**
 * One baggage entry: the decoded value and its properties.
 *
 * @category models
 * @since 0.1.0
 */
export interface BaggageEntry {
  /** The value, percent-decoded. */
  readonly value: string
  /** The entry's properties, in order. */
  readonly properties?: ReadonlyArray<BaggageProperty> | undefined
}

/**
 * Baggage: entries keyed by their (case-sensitive) key, in order. A key received twice keeps its first
 * position and its last value (deduplication is one of the mutations the specification allows); an
 * updated key keeps its position.
 *
 * @category models
 * @since 0.1.0
 */
export type Baggage = ReadonlyMap<string, BaggageEntry>

/**
 * The caller's trace context from a valid `traceparent` (and its `tracestate`): pass it as
 * `Request.track(name, { parent })`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RemoteContext extends RemoteParent {
  /** The caller's trace id (the `trace-id` field). */
  readonly traceId: string
  /** The caller's span (the `parent-id` field). */
  readonly spanId: string
  /** The caller's sampled flag. */
  readonly sampled: boolean
  /** The caller's random-trace-id flag (Level 2): the trace id's right 7 bytes are random. */
  readonly randomTraceId: boolean
  /** The caller's `tracestate`, normalized (no optional whitespace), when it was valid and not empty. */
  readonly traceState: string | undefined
}

/**
 * Why part of the incoming headers was ignored:
 *
 * - `invalid_traceparent`: the `traceparent` does not follow the specification (the trace restarts and
 *   `tracestate` is not read);
 * - `invalid_tracestate`: the `tracestate` has a malformed member or more than 32 members (discarded
 *   whole);
 * - `tracestate_duplicate`: a `tracestate` key appeared again (in one field or across header fields):
 *   the first occurrence is kept, each later one dropped and counted, the rest of the header inherited;
 * - `invalid_baggage`: a baggage member breaks the grammar (that member is dropped);
 * - `baggage_truncated`: members past 180 or 8192 bytes (dropped whole).
 *
 * @category models
 * @since 0.1.0
 */
export type Issue =
  | "invalid_traceparent"
  | "invalid_tracestate"
  | "tracestate_duplicate"
  | "invalid_baggage"
  | "baggage_truncated"

/**
 * What `Propagation.extract` read from incoming headers.
 *
 * @category models
 * @since 0.1.0
 */
export interface Extracted {
  /** The caller's trace context, when its `traceparent` was present and valid. */
  readonly parent: RemoteContext | undefined
  /** The caller's baggage (empty when none). */
  readonly baggage: Baggage
  /** Each kind of problem found, once; every dropped item is also counted on the recorder. */
  readonly issues: ReadonlyArray<Issue>
}
