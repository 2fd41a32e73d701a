/**
 * Character classes and list syntax shared by the header codecs (W3C Trace Context, W3C Baggage) and the
 * sampling concern's hex values: RFC 9110 optional whitespace and comma-separated lists, and `HEXDIG`.
 * Plain functions over char codes: no allocation beyond the substrings they return.
 *
 * @internal
 */

const isOws = (code: number): boolean => code === 0x20 || code === 0x09

/** Strips optional whitespace (space and horizontal tab, RFC 9110 OWS) from both ends. */
export const trimOws = (value: string): string => {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

/**
 * Calls `f` with each member of a comma-separated list (`tracestate`, `baggage`, or several fields of one
 * combined with `", "`), left to right, optional whitespace trimmed; empty and whitespace-only members are
 * skipped, as both W3C specifications allow. `f` returns `false` to stop; the result is `false` when it
 * did, `true` when every member was seen.
 */
export const forEachListMember = (list: string, f: (member: string) => boolean): boolean => {
  const length = list.length
  let start = 0
  while (start <= length) {
    let end = list.indexOf(",", start)
    if (end === -1) end = length
    const member = trimOws(list.slice(start, end))
    start = end + 1
    if (member.length > 0 && !f(member)) return false
  }
  return true
}

/** The value of a hex digit's char code (`0-9`, `a-f`, `A-F`), or -1. */
export const hexDigit = (code: number): number =>
  code >= 0x30 && code <= 0x39
    ? code - 0x30
    : code >= 0x61 && code <= 0x66
    ? code - 0x57
    : code >= 0x41 && code <= 0x46
    ? code - 0x37
    : -1

const HEX_LC = /^[0-9a-f]+$/
const ZERO_TRACE_ID = "00000000000000000000000000000000"
const ZERO_SPAN_ID = "0000000000000000"

/** Whether `id` is a valid W3C trace id: 32 lowercase hex digits, not all zero. */
export const isValidTraceId = (id: string): boolean =>
  typeof id === "string" && id.length === 32 && HEX_LC.test(id) && id !== ZERO_TRACE_ID

/** Whether `id` is a valid W3C parent (span) id: 16 lowercase hex digits, not all zero. */
export const isValidSpanId = (id: string): boolean =>
  typeof id === "string" && id.length === 16 && HEX_LC.test(id) && id !== ZERO_SPAN_ID
