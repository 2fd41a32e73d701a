/**
 * W3C Trace Context Level 2 codec: `traceparent` (version rules, ids, the sampled and random-trace-id
 * flags) here, and `tracestate` (the Level 2 list-member grammar, 32 members, duplicate keys kept first,
 * truncation to the propagated size) re-exported from `src/internal/traceState.ts`, which the sampling
 * concern shares. Pure functions, no allocation beyond the results.
 *
 * Parsing follows the specification's rules for receivers: a `traceparent` that does not parse is
 * ignored (the trace restarts); a `tracestate` that does not parse is discarded as a whole, as the W3C
 * test suite expects (an invalid member, more than 32 members), while a duplicate key keeps its first
 * occurrence (the later ones are dropped and counted).
 *
 * @internal
 */
import { trimOws } from "../../internal/grammar.ts"

/** The sampled flag (bit 0 of trace-flags). */
export const FLAG_SAMPLED = 0x01
/** The random-trace-id flag of Level 2 (bit 1 of trace-flags). */
export const FLAG_RANDOM = 0x02

/** A parsed, valid `traceparent`. */
export interface TraceParent {
  readonly version: number
  readonly traceId: string
  readonly spanId: string
  /** Only the flags this specification defines (sampled, random-trace-id); unknown bits are dropped. */
  readonly flags: number
}

const ZERO_TRACE_ID = "00000000000000000000000000000000"
const ZERO_SPAN_ID = "0000000000000000"

// The id validators live with the other header grammar, shared with `Request.track`'s remote parents.
export { isValidSpanId, isValidTraceId } from "../../internal/grammar.ts"

const isHexLc = (value: string, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i)
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false
  }
  return true
}

/**
 * Parses a `traceparent` value. Version `00` must be exactly 55 characters; a higher version (not `ff`)
 * is parsed by its first four fields, which must be followed by the end or a dash; anything else is
 * `undefined`.
 */
export const parseTraceParent = (header: string): TraceParent | undefined => {
  const value = trimOws(header)
  if (value.length < 55) return undefined
  if (!isHexLc(value, 0, 2) || value.charCodeAt(2) !== 0x2d) return undefined
  const version = parseInt(value.slice(0, 2), 16)
  if (version === 0xff) return undefined
  if (version === 0 ? value.length !== 55 : value.length > 55 && value.charCodeAt(55) !== 0x2d) {
    return undefined
  }
  if (
    !isHexLc(value, 3, 35) || value.charCodeAt(35) !== 0x2d || !isHexLc(value, 36, 52) ||
    value.charCodeAt(52) !== 0x2d || !isHexLc(value, 53, 55)
  ) return undefined
  const traceId = value.slice(3, 35)
  const spanId = value.slice(36, 52)
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined
  const flags = parseInt(value.slice(53, 55), 16) & (FLAG_SAMPLED | FLAG_RANDOM)
  return { version, traceId, spanId, flags }
}

/** Formats a version `00` `traceparent`; unknown flag bits are cleared. */
export const formatTraceParent = (traceId: string, spanId: string, flags: number): string =>
  `00-${traceId}-${spanId}-0${(flags & (FLAG_SAMPLED | FLAG_RANDOM)).toString(16)}`

// -------------------------------------------------------------------------------------------------------
// tracestate: shared with the sampling concern
// -------------------------------------------------------------------------------------------------------

export {
  formatTraceState,
  isValidTraceStateKey,
  isValidTraceStateValue,
  mergeTraceState,
  parseTraceState,
  setTraceStateEntry,
  type TraceStateEntry,
  truncateTraceState,
} from "../../internal/traceState.ts"
