/**
 * W3C Baggage codec: list-members `key=value;property;key=value`, keys are RFC 9110 tokens, values are
 * percent-encoded UTF-8 (invalid UTF-8 decodes to U+FFFD), at most 180 members and 8192 bytes. Invalid
 * members are dropped one by one (the specification allows removing them), members past the limits are
 * dropped whole; both are counted by the caller.
 *
 * @internal
 */
import type { BaggageEntry, BaggageProperty } from "./propagationModel.ts"
import { hexDigit, trimOws } from "../../internal/grammar.ts"

/** Members of a `baggage-string` (the grammar's `0*179` repetitions after the first). */
export const MAX_BAGGAGE_MEMBERS = 180
/** Bytes of the combined `baggage` headers. */
export const MAX_BAGGAGE_BYTES = 8192

/** What parsing a header gave: entries in order (a duplicate key keeps its place, takes the later value). */
export interface ParsedBaggage {
  readonly entries: Map<string, BaggageEntry>
  /** Members that did not follow the grammar. */
  readonly invalid: number
  /** Valid members dropped because the header went past 180 members or 8192 bytes. */
  readonly truncated: number
}

// token = 1*tchar ; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
const OCTETS = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/

/** Whether `key` is a valid baggage key (an RFC 9110 token). */
export const isValidBaggageKey = (key: string): boolean => TOKEN.test(key)

/** Character classes by char code (ASCII only): 1 = tchar, 2 = baggage-octet. */
const classes: Uint8Array = Uint8Array.from({ length: 128 }, (_, code) => {
  const c = String.fromCharCode(code)
  return (TOKEN.test(c) ? 1 : 0) | (OCTETS.test(c) ? 2 : 0)
})

const isOwsCode = (code: number): boolean => code === 0x20 || code === 0x09

/** Whether `text[start, end)` is a non-empty token (a fast `TOKEN.test` without the substring). */
const isTokenRange = (text: string, start: number, end: number): boolean => {
  if (end <= start) return false
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i)
    if (code >= 128 || (classes[code]! & 1) === 0) return false
  }
  return true
}

/** Whether `text[start, end)` is made of baggage-octets (empty is fine). */
const isOctetRange = (text: string, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i)
    if (code >= 128 || (classes[code]! & 2) === 0) return false
  }
  return true
}

const isOctet = (code: number): boolean =>
  code === 0x21 || (code >= 0x23 && code <= 0x2b) || (code >= 0x2d && code <= 0x3a) ||
  (code >= 0x3c && code <= 0x5b) || (code >= 0x5d && code <= 0x7e)

const decoder = new TextDecoder("utf-8")

/**
 * Percent-decodes a value made of baggage-octets; byte sequences that are not UTF-8 become U+FFFD.
 * `undefined` when a `%` is not followed by two hex digits (the percent sign must itself be encoded).
 */
export const decodeValue = (value: string): string | undefined => {
  if (value.indexOf("%") === -1) return value
  try {
    // The fast path: well-formed escapes of valid UTF-8 (a value is only baggage-octets here).
    return decodeURIComponent(value)
  } catch {
    return decodeSlow(value)
  }
}

/** Byte by byte: a malformed escape is `undefined`, invalid UTF-8 becomes U+FFFD. */
const decodeSlow = (value: string): string | undefined => {
  const bytes = new Uint8Array(value.length)
  let n = 0
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code === 0x25) {
      const hi = i + 2 < value.length ? hexDigit(value.charCodeAt(i + 1)) : -1
      const lo = hi === -1 ? -1 : hexDigit(value.charCodeAt(i + 2))
      if (lo === -1) return undefined
      bytes[n++] = hi * 16 + lo
      i += 2
    } else {
      bytes[n++] = code
    }
  }
  return decoder.decode(bytes.subarray(0, n))
}

const encoder = new TextEncoder()
const HEX = "0123456789ABCDEF"

/** Percent-encodes `value` (as UTF-8): every byte outside baggage-octet, and `%` itself. */
export const encodeValue = (value: string): string => {
  let plain = true
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (!isOctet(code) || code === 0x25) {
      plain = false
      break
    }
  }
  if (plain) return value
  // TextEncoder turns lone surrogates into U+FFFD instead of throwing like encodeURIComponent.
  const bytes = encoder.encode(value)
  let out = ""
  for (const byte of bytes) {
    out += isOctet(byte) && byte !== 0x25 ? String.fromCharCode(byte) : `%${HEX[byte >> 4]}${HEX[byte & 15]}`
  }
  return out
}

/**
 * Parses the list-member `member[start, end)` (optional whitespace already trimmed); `undefined` when it
 * breaks the grammar. The common member (`key=value`, no property) is checked by char code in place; only
 * the key and the value are cut out.
 */
const parseMember = (
  member: string,
  start: number,
  end: number,
): readonly [string, BaggageEntry] | undefined => {
  let semi = member.indexOf(";", start)
  if (semi === -1 || semi > end) semi = end
  const eq = member.indexOf("=", start)
  if (eq === -1 || eq >= semi) return undefined
  // key OWS "=" OWS value
  let keyEnd = eq
  while (keyEnd > start && isOwsCode(member.charCodeAt(keyEnd - 1))) keyEnd--
  let rawStart = eq + 1
  let rawEnd = semi
  while (rawStart < rawEnd && isOwsCode(member.charCodeAt(rawStart))) rawStart++
  while (rawEnd > rawStart && isOwsCode(member.charCodeAt(rawEnd - 1))) rawEnd--
  if (!isTokenRange(member, start, keyEnd) || !isOctetRange(member, rawStart, rawEnd)) return undefined
  const value = decodeValue(member.slice(rawStart, rawEnd))
  if (value === undefined) return undefined
  const key = member.slice(start, keyEnd)
  if (semi === end) return [key, { value }]
  const properties: Array<BaggageProperty> = []
  const parts = member.slice(semi + 1, end).split(";")
  for (let i = 0; i < parts.length; i++) {
    const property = trimOws(parts[i]!)
    // A stray `;` (an empty property) is tolerated; anything else must follow the grammar.
    if (property.length === 0) continue
    const peq = property.indexOf("=")
    if (peq === -1) {
      if (!TOKEN.test(property)) return undefined
      properties.push({ key: property })
    } else {
      const pkey = trimOws(property.slice(0, peq))
      const pvalue = trimOws(property.slice(peq + 1))
      if (!TOKEN.test(pkey) || !OCTETS.test(pvalue)) return undefined
      properties.push({ key: pkey, value: pvalue })
    }
  }
  return [key, properties.length === 0 ? { value } : { value, properties }]
}

/** Parses a (combined) `baggage` header value. */
export const parseBaggage = (header: string): ParsedBaggage => {
  const entries = new Map<string, BaggageEntry>()
  let invalid = 0
  let truncated = 0
  let members = 0
  let bytes = 0
  const n = header.length
  let pos = 0
  while (pos <= n) {
    let start = pos
    let end = header.indexOf(",", pos)
    if (end === -1) end = n
    pos = end + 1
    while (start < end && isOwsCode(header.charCodeAt(start))) start++
    while (end > start && isOwsCode(header.charCodeAt(end - 1))) end--
    if (start === end) continue
    const parsed = parseMember(header, start, end)
    if (parsed === undefined) {
      invalid++
      continue
    }
    const size = end - start + (members === 0 ? 0 : 1)
    if (members === MAX_BAGGAGE_MEMBERS || bytes + size > MAX_BAGGAGE_BYTES) {
      truncated++
      continue
    }
    members++
    bytes += size
    entries.set(parsed[0], parsed[1])
  }
  return { entries, invalid, truncated }
}

/** What serializing gave: the header value (empty when nothing fits) and what was left out. */
export interface SerializedBaggage {
  readonly header: string
  /** Entries with a key that is not a token, or a property that breaks the grammar. */
  readonly invalid: number
  /** Entries left out to stay within 180 members and 8192 bytes (never sent in part). */
  readonly truncated: number
}

const formatMember = (key: string, entry: BaggageEntry): string | undefined => {
  if (!TOKEN.test(key) || typeof entry.value !== "string") return undefined
  let out = `${key}=${encodeValue(entry.value)}`
  const properties = entry.properties
  if (properties !== undefined) {
    for (const property of properties) {
      if (!TOKEN.test(property.key)) return undefined
      if (property.value === undefined) {
        out += `;${property.key}`
      } else {
        if (!OCTETS.test(property.value)) return undefined
        out += `;${property.key}=${property.value}`
      }
    }
  }
  return out
}

/** Serializes entries in order, skipping invalid ones and whole members past the limits. */
export const serializeBaggage = (entries: Iterable<readonly [string, BaggageEntry]>): SerializedBaggage => {
  let header = ""
  let members = 0
  let invalid = 0
  let truncated = 0
  for (const [key, entry] of entries) {
    const member = formatMember(key, entry)
    if (member === undefined) {
      invalid++
      continue
    }
    const size = member.length + (members === 0 ? 0 : 1)
    if (members === MAX_BAGGAGE_MEMBERS || header.length + size > MAX_BAGGAGE_BYTES) {
      truncated++
      continue
    }
    header += members === 0 ? member : `,${member}`
    members++
  }
  return { header, invalid, truncated }
}
