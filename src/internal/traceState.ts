/**
 * W3C Trace Context Level 2 `tracestate`, shared by the HTTP propagation and sampling concerns: the
 * list-member grammar (Level 2 keys, values), at most 32 members, unique keys, a modified
 * member moving to the left, and truncation to the propagated size. Pure functions; nothing here throws.
 *
 * Parsing follows the specification's rules for receivers: a `tracestate` that does not parse is discarded
 * as a whole, as the W3C test suite expects (an invalid member, more than 32 members). A key that appears
 * again (in one field or across combined header fields) keeps its first occurrence and the later ones are
 * dropped and reported: the W3C suite (`test_tracestate_duplicated_keys`) expects such a header to be
 * inherited, and a vendor should not delete other vendors' entries. Empty and whitespace-only members are
 * allowed and skipped.
 *
 * Two forms: entries (`parseTraceState` … `formatTraceState`, for merging and truncating what is sent)
 * and the header string itself (`normalizeTraceState`, `traceStateValue`, `withTraceStateMember`, for
 * reading and setting one member without building entries).
 *
 * @internal
 */
import { forEachListMember } from "./grammar.ts"

/** Members kept in one tracestate. */
export const MAX_TRACESTATE_MEMBERS = 32
/** The size of the tracestate stagetrace propagates (the minimum the specification asks for). */
export const MAX_TRACESTATE_LENGTH = 512
/** Entries longer than this are the first ones removed when truncating. */
const LARGE_ENTRY = 128

/** One tracestate list-member, in order. */
export type TraceStateEntry = readonly [key: string, value: string]

// Trace Context Level 2 (https://www.w3.org/TR/trace-context-2/#key; the Level 1 split into a tenant id of
// at most 241 and a system id of at most 14 characters around one "@" is gone):
// key = ( lcalpha / DIGIT ) 0*255 ( keychar )
// keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"
const KEY = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/
// value = 0*255(chr) nblk-chr ; chr = %x20 / nblk-chr ; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

/** Whether `key` is a valid tracestate key (Level 2: a lowercase letter or digit, then up to 255 keychars). */
export const isValidTraceStateKey = (key: string): boolean => key.length <= 256 && KEY.test(key)

/** Whether `value` is a valid tracestate value. */
export const isValidTraceStateValue = (value: string): boolean => value.length <= 256 && VALUE.test(value)

// ---------------------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------------------

const isOws = (code: number): boolean => code === 0x20 || code === 0x09
const isKeyStart = (code: number): boolean => (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39)
// keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
const isKeyChar = (code: number): boolean =>
  isKeyStart(code) || code === 0x5f || code === 0x2d || code === 0x2a || code === 0x2f || code === 0x40
// chr = %x20 / nblk-chr: printable ASCII but "," and "="
const isValueChar = (code: number): boolean => code >= 0x20 && code <= 0x7e && code !== 0x2c && code !== 0x3d

/** Receives how many members of a received tracestate were dropped as duplicate keys. */
export interface TraceStateDrops {
  duplicates: number
}

/**
 * One pass over a (combined) tracestate header, by char code (no regular expression, no substring but the
 * keys and values kept): validates every member and appends it to `entries`, but for a key already there
 * (the first occurrence wins; the later one is skipped and counted in `drops`). Returns `-1` when the
 * header is invalid as a whole, `1` when it is already normalized (no optional whitespace, no empty
 * member, no duplicate), `0` otherwise.
 */
const scanTraceState = (
  header: string,
  entries: Array<TraceStateEntry>,
  drops: TraceStateDrops | undefined,
): -1 | 0 | 1 => {
  const n = header.length
  let clean: 0 | 1 = 1
  let duplicates = 0
  let pos = 0
  while (true) {
    let i = pos
    while (i < n && isOws(header.charCodeAt(i))) i++
    let end = header.indexOf(",", i)
    if (end === -1) end = n
    let stop = end
    while (stop > i && isOws(header.charCodeAt(stop - 1))) stop--
    if (stop > i) {
      if (i !== pos || stop !== end) clean = 0
      const keyStart = i
      if (!isKeyStart(header.charCodeAt(i++))) return -1
      let code = 0
      while (i < stop && (code = header.charCodeAt(i)) !== 0x3d) {
        if (!isKeyChar(code)) return -1
        i++
      }
      // No "=", a key over 256 characters, an empty value or one over 256 characters.
      if (i === stop || i - keyStart > 256 || stop - i - 1 > 256 || i + 1 === stop) return -1
      const keyEnd = i++
      for (; i < stop; i++) if (!isValueChar(header.charCodeAt(i))) return -1
      const key = header.slice(keyStart, keyEnd)
      // At most 32 members: a linear scan beats a Set.
      let duplicate = false
      for (let e = 0; e < entries.length; e++) {
        if (entries[e]![0] === key) {
          duplicate = true
          break
        }
      }
      if (duplicate) {
        duplicates++
        clean = 0
      } else {
        if (entries.length === MAX_TRACESTATE_MEMBERS) return -1
        entries.push([key, header.slice(keyEnd + 1, stop)])
      }
    } else if (n > 0) clean = 0
    if (end === n) {
      if (drops !== undefined) drops.duplicates += duplicates
      return clean
    }
    pos = end + 1
  }
}

/**
 * Parses a (combined) `tracestate` value into its members, left to right. Empty and whitespace-only
 * members are skipped, and so are later occurrences of a key (counted in `drops` when given); `undefined`
 * when the header is invalid as a whole (a malformed member, more than 32 distinct members).
 */
export const parseTraceState = (
  header: string,
  drops?: TraceStateDrops,
): Array<TraceStateEntry> | undefined => {
  const entries: Array<TraceStateEntry> = []
  return scanTraceState(header, entries, drops) === -1 ? undefined : entries
}

/**
 * A received tracestate, normalized (as `formatTraceState(parseTraceState(header))`, but the header itself
 * when it is normalized already): `null` when it is invalid, `undefined` when it has no member. Later
 * occurrences of a key are dropped and counted in `drops`.
 */
export const readTraceState = (header: string, drops?: TraceStateDrops): string | undefined | null => {
  const entries: Array<TraceStateEntry> = []
  const result = scanTraceState(header, entries, drops)
  if (result === -1) return null
  if (entries.length === 0) return undefined
  return result === 1 ? header : formatTraceState(entries)
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

// ---------------------------------------------------------------------------------------------------------
// Header strings
// ---------------------------------------------------------------------------------------------------------

/**
 * Validates a received `tracestate` header and returns it normalized (members trimmed, empty members and
 * later occurrences of a key removed, those counted in `drops`), or `undefined` when it is malformed: the
 * W3C specification lets a vendor discard a header it cannot parse rather than propagate it. An empty
 * header is `undefined` too.
 */
export const normalizeTraceState = (header: string, drops?: TraceStateDrops): string | undefined =>
  readTraceState(header, drops) ?? undefined

/** Whether the (trimmed) list-member `member` has the key `key`. */
const hasKey = (member: string, key: string): boolean =>
  member.length > key.length && member.charCodeAt(key.length) === 0x3d && member.startsWith(key)

/** The value of the member `key` of a tracestate header, `undefined` when there is none. */
export const traceStateValue = (traceState: string, key: string): string | undefined => {
  // Cheap rejection first: most tracestates do not carry the key asked for.
  if (traceState.indexOf(key) < 0) return undefined
  let value: string | undefined
  forEachListMember(traceState, (member) => {
    if (!hasKey(member, key)) return true
    value = member.slice(key.length + 1)
    return false
  })
  return value
}

/**
 * The tracestate header with member `key` set to `value` and moved to the left (as a modified member
 * must), or removed when `value` is `undefined`; members are trimmed, empty ones dropped, and past 32
 * members the rightmost ones are removed. `undefined` when no member is left. `value` is not validated.
 */
export const withTraceStateMember = (
  traceState: string,
  key: string,
  value: string | undefined,
): string | undefined => {
  let out = value === undefined ? "" : `${key}=${value}`
  let count = value === undefined ? 0 : 1
  forEachListMember(traceState, (member) => {
    if (hasKey(member, key)) return true
    if (count === MAX_TRACESTATE_MEMBERS) return false
    out = count === 0 ? member : `${out},${member}`
    count++
    return true
  })
  return count === 0 ? undefined : out
}
