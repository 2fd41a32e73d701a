/**
 * W3C Trace Context Level 2 codec: `traceparent` (version rules, ids, the sampled and random-trace-id
 * flags) and `tracestate` (list-member grammar with multi-tenant keys, 32 members, duplicate keys,
 * truncation to the propagated size). Pure functions, no allocation beyond the results.
 *
 * Parsing follows the specification's rules for receivers: a `traceparent` that does not parse is
 * ignored (the trace restarts); a `tracestate` that does not parse is discarded as a whole, as the W3C
 * test suite expects (an invalid member, a duplicate key, more than 32 members).
 *
 * @internal
 */
import { trimOws } from "./headers.ts"

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

const HEX_LC = /^[0-9a-f]+$/
const ZERO_TRACE_ID = "00000000000000000000000000000000"
const ZERO_SPAN_ID = "0000000000000000"

/** Whether `id` is a valid W3C trace id: 32 lowercase hex digits, not all zero. */
export const isValidTraceId = (id: string): boolean =>
  id.length === 32 && HEX_LC.test(id) && id !== ZERO_TRACE_ID

/** Whether `id` is a valid W3C parent (span) id: 16 lowercase hex digits, not all zero. */
export const isValidSpanId = (id: string): boolean =>
  id.length === 16 && HEX_LC.test(id) && id !== ZERO_SPAN_ID

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
// tracestate
// -------------------------------------------------------------------------------------------------------

/** Members kept in one tracestate. */
export const MAX_TRACESTATE_MEMBERS = 32
/** The size of the tracestate stagetrace propagates (the minimum the specification asks for). */
export const MAX_TRACESTATE_LENGTH = 512
/** Entries longer than this are the first ones removed when truncating. */
const LARGE_ENTRY = 128

/** One tracestate list-member, in order. */
export type TraceStateEntry = readonly [key: string, value: string]

// key = simple-key / multi-tenant-key
// simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
// multi-tenant-key = tenant-id "@" system-id
// tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
// system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
const KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/
// value = 0*255(chr) nblk-chr ; chr = %x20 / nblk-chr ; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

/** Whether `key` is a valid tracestate key (simple or multi-tenant). */
export const isValidTraceStateKey = (key: string): boolean => key.length <= 256 && KEY.test(key)

/** Whether `value` is a valid tracestate value. */
export const isValidTraceStateValue = (value: string): boolean => value.length <= 256 && VALUE.test(value)

/**
 * Parses a (combined) `tracestate` value into its members, left to right. Empty and whitespace-only
 * members are skipped; `undefined` when the header is invalid as a whole (a malformed member, a
 * duplicate key, more than 32 members).
 */
export const parseTraceState = (header: string): Array<TraceStateEntry> | undefined => {
  const entries: Array<TraceStateEntry> = []
  let start = 0
  const length = header.length
  while (start <= length) {
    let end = header.indexOf(",", start)
    if (end === -1) end = length
    const member = trimOws(header.slice(start, end))
    start = end + 1
    if (member.length === 0) continue
    if (entries.length === MAX_TRACESTATE_MEMBERS) return undefined
    const eq = member.indexOf("=")
    if (eq <= 0) return undefined
    const key = member.slice(0, eq)
    const value = member.slice(eq + 1)
    if (!isValidTraceStateKey(key) || !isValidTraceStateValue(value)) return undefined
    // At most 32 members: a linear scan beats a Set.
    for (let i = 0; i < entries.length; i++) if (entries[i]![0] === key) return undefined
    entries.push([key, value])
  }
  return entries
}

/** Serializes members (no optional whitespace). */
export const formatTraceState = (entries: ReadonlyArray<TraceStateEntry>): string => {
  let out = ""
  for (let i = 0; i < entries.length; i++) {
    const [key, value] = entries[i]!
    out += i === 0 ? `${key}=${value}` : `,${key}=${value}`
  }
  return out
}

const serializedLength = (entries: ReadonlyArray<TraceStateEntry>): number => {
  let total = entries.length === 0 ? 0 : entries.length - 1
  for (const [key, value] of entries) total += key.length + 1 + value.length
  return total
}

/**
 * Keeps at most 32 members and `maxLength` characters, removing whole entries as the specification
 * says: entries longer than 128 characters first, then entries from the end. Returns how many were
 * removed.
 */
export const truncateTraceState = (
  entries: Array<TraceStateEntry>,
  maxLength: number = MAX_TRACESTATE_LENGTH,
): number => {
  let removed = 0
  while (entries.length > MAX_TRACESTATE_MEMBERS) {
    entries.pop()
    removed++
  }
  let size = serializedLength(entries)
  for (let i = entries.length - 1; i >= 0 && size > maxLength; i--) {
    const [key, value] = entries[i]!
    const entrySize = key.length + 1 + value.length
    if (entrySize > LARGE_ENTRY) {
      entries.splice(i, 1)
      size -= entrySize + (entries.length > 0 ? 1 : 0)
      removed++
    }
  }
  while (size > maxLength && entries.length > 0) {
    const [key, value] = entries.pop()!
    size -= key.length + 1 + value.length + (entries.length > 0 ? 1 : 0)
    removed++
  }
  return removed
}

/**
 * The tracestate this participant sends: its own entries (`own`, leftmost, as modified entries move to
 * the left) followed by the upstream entries whose keys it did not set, in their received order.
 */
export const mergeTraceState = (
  own: ReadonlyArray<TraceStateEntry>,
  upstream: ReadonlyArray<TraceStateEntry>,
): Array<TraceStateEntry> => {
  if (own.length === 0) return upstream.slice()
  if (upstream.length === 0) return own.slice()
  const keys = new Set(own.map((entry) => entry[0]))
  const merged = own.slice()
  for (const entry of upstream) if (!keys.has(entry[0])) merged.push(entry)
  return merged
}

/**
 * Sets `key` to `value`, moving the entry to the left as the specification requires for a modified
 * entry. Returns the new members (the input is not changed); invalid keys or values leave it as it is.
 */
export const setTraceStateEntry = (
  entries: ReadonlyArray<TraceStateEntry>,
  key: string,
  value: string,
): Array<TraceStateEntry> => {
  if (!isValidTraceStateKey(key) || !isValidTraceStateValue(value)) return entries.slice()
  const out: Array<TraceStateEntry> = [[key, value]]
  for (const entry of entries) if (entry[0] !== key) out.push(entry)
  return out
}
