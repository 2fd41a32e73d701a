/**
 * 56-bit values of OpenTelemetry consistent probability sampling: the randomness R (`rv`, or the low 56 bits
 * of the trace id) and the rejection threshold T (`th`). A value is kept as two 28-bit halves so that every
 * comparison stays in plain small integers (no BigInt, no allocation on the hot path).
 *
 * @internal
 */
import { hexDigit } from "../../internal/grammar.ts"

/** A 56-bit value as two 28-bit halves. */
export interface Bits56 {
  readonly hi: number
  readonly lo: number
}

const TWO_28 = 0x10000000
const MASK_28 = 0xfffffff
const TWO_56 = BigInt(2) ** BigInt(56)

/** Whether `hi:lo` (R) is at least `threshold` (T): the consistent sampling test `R >= T`. */
export const atLeast = (hi: number, lo: number, threshold: Bits56): boolean =>
  hi > threshold.hi || (hi === threshold.hi && lo >= threshold.lo)

/**
 * Reads 14 hex digits of `text` starting at `start` into `out`; `false` when one is not a hex digit.
 * Used for the low 56 bits of a 32-digit trace id and for `rv` values.
 */
export const readHex56 = (text: string, start: number, out: { hi: number; lo: number }): boolean => {
  if (text.length < start + 14) return false
  let hi = 0
  let lo = 0
  for (let i = 0; i < 7; i++) {
    const d = hexDigit(text.charCodeAt(start + i))
    if (d < 0) return false
    hi = hi * 16 + d
  }
  for (let i = 7; i < 14; i++) {
    const d = hexDigit(text.charCodeAt(start + i))
    if (d < 0) return false
    lo = lo * 16 + d
  }
  out.hi = hi
  out.lo = lo
  return true
}

/**
 * Parses a `th` value: 1 to 14 hex digits, extended with trailing zeros to 14 digits. `undefined` when
 * malformed.
 */
export const parseThreshold = (value: string): Bits56 | undefined => {
  if (value.length < 1 || value.length > 14) return undefined
  let hi = 0
  let lo = 0
  for (let i = 0; i < 14; i++) {
    const d = i < value.length ? hexDigit(value.charCodeAt(i)) : 0
    if (d < 0) return undefined
    if (i < 7) hi = hi * 16 + d
    else lo = lo * 16 + d
  }
  return { hi, lo }
}

/** Whether `value` is a valid `rv`: exactly 14 hex digits. */
export const isRandomnessValue = (value: string): boolean => {
  if (value.length !== 14) return false
  for (let i = 0; i < 14; i++) if (hexDigit(value.charCodeAt(i)) < 0) return false
  return true
}

const hexCodes = Array.from("0123456789abcdef", (c) => c.charCodeAt(0))

/** 14 lowercase hex digits of a 56-bit value (one flat string, no intermediate ones). */
export const toHex56 = (hi: number, lo: number): string =>
  String.fromCharCode(
    hexCodes[(hi >>> 24) & 15]!,
    hexCodes[(hi >>> 20) & 15]!,
    hexCodes[(hi >>> 16) & 15]!,
    hexCodes[(hi >>> 12) & 15]!,
    hexCodes[(hi >>> 8) & 15]!,
    hexCodes[(hi >>> 4) & 15]!,
    hexCodes[hi & 15]!,
    hexCodes[(lo >>> 24) & 15]!,
    hexCodes[(lo >>> 20) & 15]!,
    hexCodes[(lo >>> 16) & 15]!,
    hexCodes[(lo >>> 12) & 15]!,
    hexCodes[(lo >>> 8) & 15]!,
    hexCodes[(lo >>> 4) & 15]!,
    hexCodes[lo & 15]!,
  )

/** A consistent-probability threshold computed from a sampling probability. */
export interface Threshold extends Bits56 {
  /** The `th` encoding: hex, trailing zeros removed (`"0"` for probability 1). */
  readonly th: string
  /** `false` when the probability is so small that T = 2^56: nothing can be sampled (no `th` exists). */
  readonly sampling: boolean
}

/**
 * The rejection threshold of probability `p` in [0, 1]: T = round((1 - p) × 2^56), computed exactly
 * (p × 2^56 is exact in binary floating point, so T = 2^56 - round(p × 2^56), rounding halves so that T
 * rounds half up as the formula says).
 */
export const thresholdOf = (p: number): Threshold => {
  const scaled = p * 2 ** 56
  const kept = BigInt(Math.max(0, Math.ceil(scaled - 0.5)))
  const t = TWO_56 - kept
  if (t >= TWO_56) return { hi: TWO_28, lo: 0, th: "", sampling: false }
  const hi = Number(t >> BigInt(28))
  const lo = Number(t & BigInt(MASK_28))
  const hex = toHex56(hi, lo).replace(/0+$/, "")
  return { hi, lo, th: hex === "" ? "0" : hex, sampling: true }
}

// ---------------------------------------------------------------------------------------------------------
// FNV-1a, 64 bits, over UTF-8 bytes, in four 16-bit limbs
// ---------------------------------------------------------------------------------------------------------

const encoder = new TextEncoder()

/**
 * The low 56 bits of the 64-bit FNV-1a hash of the UTF-8 bytes of `text`, into `out`. Portable by
 * construction: any language's FNV-1a-64 masked with `0xffffffffffffff` gives the same value.
 *
 * The 64-bit state is four 16-bit limbs; multiplying by the FNV prime 2^40 + 0x1b3 is a multiplication of
 * each limb by 0x1b3 plus the two low limbs shifted into the two high ones (modulo 2^64).
 */
export const fnv56 = (text: string, out: { hi: number; lo: number }): void => {
  // Offset basis 0xcbf29ce484222325, limbs from least significant.
  let h0 = 0x2325
  let h1 = 0x8422
  let h2 = 0x9ce4
  let h3 = 0xcbf2
  const length = text.length
  let i = 0
  let bytes: Uint8Array | undefined
  for (; i < length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x80) {
      // Not ASCII: hash the UTF-8 encoding of the rest (TextEncoder: lone surrogates become U+FFFD).
      bytes = encoder.encode(text.slice(i))
      break
    }
    const x = h0 ^ code
    const t0 = x * 0x1b3
    const t1 = h1 * 0x1b3 + (t0 >>> 16)
    const t2 = h2 * 0x1b3 + (x << 8) + (t1 >>> 16)
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)
    h0 = t0 & 0xffff
    h1 = t1 & 0xffff
    h2 = t2 & 0xffff
    h3 = t3 & 0xffff
  }
  if (bytes !== undefined) {
    for (let j = 0; j < bytes.length; j++) {
      const x = h0 ^ bytes[j]!
      const t0 = x * 0x1b3
      const t1 = h1 * 0x1b3 + (t0 >>> 16)
      const t2 = h2 * 0x1b3 + (x << 8) + (t1 >>> 16)
      const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)
      h0 = t0 & 0xffff
      h1 = t1 & 0xffff
      h2 = t2 & 0xffff
      h3 = t3 & 0xffff
    }
  }
  // Low 56 bits: h3's low byte, h2, h1, h0.
  out.lo = h0 + (h1 & 0xfff) * 0x10000
  out.hi = (h1 >>> 12) + h2 * 16 + (h3 & 0xff) * 0x100000
}
