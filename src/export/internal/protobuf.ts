/**
 * A small, fast protobuf writer for OTLP: one growable buffer reused across encodes, varints with plain
 * number arithmetic (no BigInt), hex ids written as bytes straight from their characters, ASCII strings
 * copied byte by byte and other strings through `TextEncoder.encodeInto`, and nested messages whose
 * length prefix is reserved up front and fixed up in place (memmove only when the guess was wrong).
 *
 * @internal
 */

import { hexDigit } from "../../internal/grammar.ts"

const textEncoder = new TextEncoder()

/** Nibble values of hex characters by char code; 255 marks a non-hex character. */
const hexValues: Uint8Array = Uint8Array.from({ length: 128 }, (_, code) => {
  const digit = hexDigit(code)
  return digit < 0 ? 255 : digit
})

const TWO_32 = 4294967296

/**
 * Writes the varint of a non-negative integer below 2^53 at `pos` of `buf` (which has room for it);
 * returns the position after it.
 */
export const writeVarintAt = (buf: Uint8Array, pos: number, value: number): number => {
  while (value > 0x7fffffff) {
    buf[pos++] = (value % 128) | 0x80
    value = Math.floor(value / 128)
  }
  while (value > 0x7f) {
    buf[pos++] = (value & 0x7f) | 0x80
    value >>>= 7
  }
  buf[pos++] = value
  return pos
}

/** Bytes needed for the varint encoding of a non-negative integer below 2^53. */
export const varintSize = (value: number): number =>
  value < 0x80
    ? 1
    : value < 0x4000
    ? 2
    : value < 0x200000
    ? 3
    : value < 0x10000000
    ? 4
    : value < 0x800000000
    ? 5
    : value < 0x40000000000
    ? 6
    : value < 0x2000000000000
    ? 7
    : 8

/**
 * A growable output buffer reused across encodes (the base of both writers): `reset()` before each message,
 * `ensure(n)` before writing `n` bytes at `pos` (the buffer doubles as needed), `finish()` copies the bytes
 * out.
 */
export class ByteWriter {
  buf: Uint8Array
  pos = 0

  constructor(initialSize: number) {
    this.buf = new Uint8Array(initialSize)
  }

  reset(): void {
    this.pos = 0
  }

  /** A copy of the bytes written since the last reset. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos)
  }

  ensure(extra: number): void {
    const needed = this.pos + extra
    if (needed <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < needed) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.grown()
  }

  /** Called after the buffer was replaced by a larger one. */
  protected grown(): void {}

  // Records: encoding one item after another into large shared buffers ("slabs") and handing each out as
  // a view of its slab — no buffer and no copy per item (what a queue of encoded spans holds instead of
  // the spans). A record larger than the headroom grows the slab as `ensure` does; earlier views keep the
  // old slab alive. A fresh slab costs far more than its size suggests (a new off-heap buffer, its pages
  // touched for the first time: ~1 µs per span encoded into it), so a slab whose every record was
  // consumed (`consumed`: copied into a request body, never read again) is written again instead: at most
  // `maxFreeSlabs` wait for reuse, and at most `maxRetiredSlabs` full slabs with records still out are
  // tracked (past that the oldest is forgotten: its records are never reported, it is left to the GC).

  /** Where the current record started. */
  private mark = 0
  /** The slab records are written to (`undefined` until the first record). */
  private slab: Slab | undefined = undefined
  /** Full slabs whose records are not all consumed yet, oldest first. */
  private retired: Array<Slab> | undefined = undefined
  /** Slabs whose records were all consumed, ready to be written again. */
  private free: Array<Uint8Array> | undefined = undefined

  /** Begins a record, in another slab of `slabSize` bytes when the current one is nearly full. */
  startRecord(slabSize: number): void {
    if (this.buf.length - this.pos < slabHeadroom) {
      const slab = this.slab
      if (slab !== undefined) this.retire(slab)
      const buf = this.free?.pop() ?? new Uint8Array(slabSize)
      this.buf = buf
      this.slab = new Slab(buf)
      this.grown()
      this.pos = 0
    }
    this.mark = this.pos
  }

  /** The record written since `startRecord`: where its bytes are in its slab (no view made). */
  takeRecord(): SlabRecord {
    const buf = this.buf
    let slab = this.slab
    if (slab === undefined || slab.buf !== buf) {
      // The first record, or the slab grew (`ensure`) under this one: the records out stay with the old.
      if (slab !== undefined) this.retire(slab)
      this.slab = slab = new Slab(buf)
    }
    const out = new SlabRecord(buf, this.mark, this.pos)
    this.mark = this.pos
    slab.out++
    return out
  }

  /** Forgets the record begun with `startRecord`. */
  discardRecord(): void {
    this.pos = this.mark
  }

  /**
   * Reports that `record` (from `takeRecord`) will never be read again, so its slab may be written again
   * once all its records are. Must be called at most once per record.
   */
  consumed(record: SlabRecord): void {
    const buffer = record.buf
    const slab = this.slab
    if (slab !== undefined && slab.buf === buffer) {
      slab.out--
      return
    }
    const retired = this.retired
    if (retired === undefined) return
    for (let i = 0; i < retired.length; i++) {
      const full = retired[i]!
      if (full.buf !== buffer) continue
      if (--full.out === 0) {
        retired.splice(i, 1)
        this.reuse(full.buf)
      }
      return
    }
  }

  /** Puts a full slab aside until its records are consumed. */
  private retire(slab: Slab): void {
    if (slab.out === 0) {
      this.reuse(slab.buf)
      return
    }
    const retired = this.retired ??= []
    if (retired.length >= maxRetiredSlabs) retired.shift()
    retired.push(slab)
  }

  private reuse(buf: Uint8Array): void {
    const free = this.free ??= []
    if (free.length < maxFreeSlabs) free.push(buf)
  }
}

/**
 * One record of a slab: its bytes are `buf[start, end)`. A small object rather than a `subarray` view (a
 * typed array costs ~100 heap bytes, this a third of that), and the records of a batch that follow each
 * other in one slab are copied out in one go (`copyRecords`).
 */
export class SlabRecord {
  constructor(readonly buf: Uint8Array, readonly start: number, readonly end: number) {}

  get length(): number {
    return this.end - this.start
  }

  /** The record's bytes, as a view of its slab. */
  bytes(): Uint8Array {
    return this.buf.subarray(this.start, this.end)
  }
}

/**
 * Copies `records` one after the other into `out` at `pos`: each run of records adjacent in one slab (the
 * usual case: records are taken in the order they were written) with one copy. Returns the end position.
 */
export const copyRecords = (out: Uint8Array, pos: number, records: ReadonlyArray<SlabRecord>): number => {
  let i = 0
  while (i < records.length) {
    const first = records[i]!
    const buf = first.buf
    let end = first.end
    for (i++; i < records.length; i++) {
      const next = records[i]!
      if (next.buf !== buf || next.start !== end) break
      end = next.end
    }
    out.set(buf.subarray(first.start, end), pos)
    pos += end - first.start
  }
  return pos
}

/** A slab of records and how many of its records are out (taken, not yet consumed). */
class Slab {
  out = 0
  constructor(readonly buf: Uint8Array) {}
}

/** Slabs kept for reuse at most. */
const maxFreeSlabs = 2
/** Full slabs with records out tracked at most. */
const maxRetiredSlabs = 16

/** How much room a slab must have left for a new record to start in it. */
const slabHeadroom = 32 * 1024

/** A growable protobuf output buffer. */
export class ProtoWriter extends ByteWriter {
  view: DataView

  constructor(initialSize = 64 * 1024) {
    super(initialSize)
    this.view = new DataView(this.buf.buffer)
  }

  protected override grown(): void {
    this.view = new DataView(this.buf.buffer)
  }

  /** Writes a varint of a non-negative integer below 2^53 (caller ensured 10 bytes of room). */
  varint(value: number): void {
    if (value < 0x80) this.buf[this.pos++] = value
    else this.pos = writeVarintAt(this.buf, this.pos, value)
  }

  /** A field tag (field number and wire type). */
  tag(field: number, wireType: number): void {
    this.ensure(10)
    this.varint((field << 3) | wireType)
  }

  uint(field: number, value: number): void {
    this.ensure(20)
    this.varint((field << 3) | 0)
    this.varint(value)
  }

  bool(field: number, value: boolean): void {
    this.ensure(11)
    this.varint((field << 3) | 0)
    this.buf[this.pos++] = value ? 1 : 0
  }

  /** An int64 field from a safe integer (negative values as 10-byte two's complement). */
  int64(field: number, value: number): void {
    this.ensure(20)
    this.varint((field << 3) | 0)
    if (value >= 0) {
      this.varint(value)
      return
    }
    // Two's complement over 64 bits: split into 32-bit halves.
    const hi = Math.floor(value / TWO_32)
    const lo = value - hi * TWO_32
    this.varint64(lo >>> 0, hi >>> 0)
  }

  /** An int64 field from a bigint in the int64 range. */
  int64Big(field: number, value: bigint): void {
    this.ensure(20)
    this.varint((field << 3) | 0)
    const u = BigInt.asUintN(64, value)
    this.varint64(Number(u & 0xffffffffn), Number(u >> 32n))
  }

  varint64(lo: number, hi: number): void {
    const buf = this.buf
    let pos = this.pos
    while (hi !== 0 || lo > 0x7f) {
      buf[pos++] = (lo & 0x7f) | 0x80
      lo = ((lo >>> 7) | (hi << 25)) >>> 0
      hi >>>= 7
    }
    buf[pos++] = lo
    this.pos = pos
  }

  double(field: number, value: number): void {
    this.ensure(18)
    this.varint((field << 3) | 1)
    this.view.setFloat64(this.pos, value, true)
    this.pos += 8
  }

  /** A fixed64 field from a bigint (timestamps in nanoseconds). */
  fixed64(field: number, value: bigint): void {
    this.ensure(18)
    this.varint((field << 3) | 1)
    this.view.setBigUint64(this.pos, value, true)
    this.pos += 8
  }

  /** A fixed64 field from a non-negative safe integer. */
  fixed64Number(field: number, value: number): void {
    this.ensure(18)
    this.varint((field << 3) | 1)
    const hi = Math.floor(value / TWO_32)
    this.view.setUint32(this.pos, value - hi * TWO_32, true)
    this.view.setUint32(this.pos + 4, hi, true)
    this.pos += 8
  }

  /** A fixed64 field from its high and low 32-bit halves (unsigned integers). */
  fixed64Halves(field: number, hi: number, lo: number): void {
    this.ensure(18)
    this.varint((field << 3) | 1)
    this.view.setUint32(this.pos, lo, true)
    this.view.setUint32(this.pos + 4, hi, true)
    this.pos += 8
  }

  fixed32(field: number, value: number): void {
    this.ensure(15)
    this.varint((field << 3) | 5)
    this.view.setUint32(this.pos, value >>> 0, true)
    this.pos += 4
  }

  /** A string field (length-delimited, UTF-8). */
  string(field: number, value: string): void {
    const length = value.length
    this.ensure(10 + length * 3 + 5)
    this.varint((field << 3) | 2)
    const buf = this.buf
    // ASCII fast path: one byte per character, length known up front.
    let i = 0
    const start = this.pos + varintSize(length)
    let pos = start
    for (; i < length; i++) {
      const c = value.charCodeAt(i)
      if (c >= 0x80) break
      buf[pos++] = c
    }
    if (i === length) {
      this.varint(length)
      this.pos = pos
      return
    }
    // Non-ASCII: encode the whole string, then place the length prefix (it may need more bytes).
    const reserve = varintSize(length * 3)
    const contentStart = this.pos + reserve
    const written = textEncoder.encodeInto(value, buf.subarray(contentStart)).written
    const actual = varintSize(written)
    if (actual !== reserve) buf.copyWithin(this.pos + actual, contentStart, contentStart + written)
    this.varint(written)
    this.pos += written
  }

  /** A bytes field from a hex string (trace and span ids); odd or invalid characters become zero nibbles. */
  hexBytes(field: number, hex: string): void {
    const size = hex.length >>> 1
    this.ensure(10 + size + 5)
    this.varint((field << 3) | 2)
    this.varint(size)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < size; i++) {
      const h = hexValues[hex.charCodeAt(2 * i) & 127]!
      const l = hexValues[hex.charCodeAt(2 * i + 1) & 127]!
      buf[pos++] = ((h === 255 ? 0 : h) << 4) | (l === 255 ? 0 : l)
    }
    this.pos = pos
  }

  /** A bytes field. */
  bytes(field: number, value: Uint8Array): void {
    this.ensure(10 + value.length + 5)
    this.varint((field << 3) | 2)
    this.varint(value.length)
    this.buf.set(value, this.pos)
    this.pos += value.length
  }

  /** Appends already-encoded bytes (a cached resource or scope message). */
  raw(value: Uint8Array): void {
    const length = value.length
    this.ensure(length)
    if (length > 64) {
      this.buf.set(value, this.pos)
      this.pos += length
      return
    }
    // Short copies (cached fields of a span) are cheaper as a loop than through `set`.
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < length; i++) buf[pos++] = value[i]!
    this.pos = pos
  }

  /**
   * Starts a nested message: writes its tag and reserves `reserve` bytes for its length. Returns the
   * position to pass to `end`.
   */
  begin(field: number, reserve: number): number {
    this.ensure(10 + reserve)
    this.varint((field << 3) | 2)
    const start = this.pos
    this.pos += reserve
    return start
  }

  /** Ends a nested message started at `start` with `reserve` bytes reserved for its length. */
  end(start: number, reserve: number): void {
    const contentStart = start + reserve
    const length = this.pos - contentStart
    const needed = varintSize(length)
    if (needed !== reserve) {
      this.ensure(needed - reserve)
      this.buf.copyWithin(start + needed, contentStart, this.pos)
      this.pos += needed - reserve
    }
    const saved = this.pos
    this.pos = start
    this.varint(length)
    this.pos = saved
  }
}

/**
 * A growable JSON output buffer for OTLP/JSON: bytes are written straight into one reused buffer (no
 * intermediate strings, no final `TextEncoder` pass); ASCII strings without characters to escape are
 * copied byte by byte, anything else goes through `JSON.stringify` + `encodeInto`.
 */
export class JsonWriter extends ByteWriter {
  constructor(initialSize = 64 * 1024) {
    super(initialSize)
  }

  /** Writes an ASCII string that needs no escaping (JSON punctuation, hex ids, numbers). */
  ascii(value: string): void {
    const length = value.length
    this.ensure(length)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < length; i++) buf[pos++] = value.charCodeAt(i)
    this.pos = pos
  }

  /** Writes any string as UTF-8 (already valid JSON text). */
  utf8(value: string): void {
    this.ensure(value.length * 3)
    this.pos += textEncoder.encodeInto(value, this.buf.subarray(this.pos)).written
  }

  /** Writes a JSON string literal, quotes included. */
  str(value: string): void {
    const length = value.length
    this.ensure(length + 2)
    const buf = this.buf
    let pos = this.pos
    buf[pos++] = 34
    for (let i = 0; i < length; i++) {
      const c = value.charCodeAt(i)
      if (c < 0x20 || c === 34 || c === 92 || c >= 0x7f) {
        // Escapes or non-ASCII: let the engine produce the literal.
        this.utf8(JSON.stringify(value))
        return
      }
      buf[pos++] = c
    }
    buf[pos++] = 34
    this.pos = pos
  }

  /** A JSON number (non-finite values as the strings OTLP/JSON accepts). */
  num(value: number): void {
    this.ascii(Number.isFinite(value) ? String(value) : `"${value}"`)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading (small answers: partial success, google.rpc.Status)
// ---------------------------------------------------------------------------------------------------------

/** Reads a varint at `pos`: `[value, next]` (values past 2^53 lose precision), or `undefined`. */
export const readVarint = (bytes: Uint8Array, pos: number): [number, number] | undefined => {
  let value = 0
  let scale = 1
  for (let i = 0; i < 10 && pos < bytes.length; i++) {
    const byte = bytes[pos++]!
    value += (byte & 0x7f) * scale
    if (byte < 0x80) return [value, pos]
    scale *= 128
  }
  return undefined
}

/** Walks the fields of a protobuf message; `false` when it is malformed. */
export const forEachField = (
  bytes: Uint8Array,
  f: (field: number, wireType: number, value: number, data: Uint8Array | undefined) => void,
): boolean => {
  let pos = 0
  while (pos < bytes.length) {
    const tag = readVarint(bytes, pos)
    if (tag === undefined) return false
    pos = tag[1]
    const field = Math.floor(tag[0] / 8)
    const wireType = tag[0] % 8
    if (wireType === 0) {
      const value = readVarint(bytes, pos)
      if (value === undefined) return false
      pos = value[1]
      f(field, 0, value[0], undefined)
    } else if (wireType === 2) {
      const length = readVarint(bytes, pos)
      if (length === undefined || length[1] + length[0] > bytes.length) return false
      pos = length[1] + length[0]
      f(field, 2, 0, bytes.subarray(length[1], pos))
    } else if (wireType === 1 || wireType === 5) {
      pos += wireType === 1 ? 8 : 4
      if (pos > bytes.length) return false
    } else return false
  }
  return true
}
