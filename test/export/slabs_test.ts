/**
 * The slabs encoded spans are views of (`ByteWriter.startRecord`/`takeRecord`): a slab is written again
 * only once every record in it was reported consumed, and never while one of its records may still be read.
 */
import assert from "node:assert/strict"
import { copyRecords, ProtoWriter, type SlabRecord } from "../../src/export/internal/protobuf.ts"

const slabSize = 64 * 1024
/** A record of `size` bytes, all `value`. */
const record = (w: ProtoWriter, size: number, value: number): SlabRecord => {
  w.startRecord(slabSize)
  w.ensure(size)
  w.buf.fill(value, w.pos, w.pos + size)
  w.pos += size
  return w.takeRecord()
}
const intact = (r: SlabRecord, value: number) => r.bytes().every((byte) => byte === value)

Deno.test("slabs: a full slab whose records were all consumed is written again", () => {
  const w = new ProtoWriter(slabSize)
  const first = [record(w, 20_000, 1), record(w, 20_000, 2)]
  // Past the headroom: the next record starts another slab.
  const next = record(w, 20_000, 3)
  assert.notEqual(next.buf.buffer, first[0]!.buf.buffer)
  for (const r of first) w.consumed(r)
  // The third slab is the first one again.
  record(w, 20_000, 4)
  const again = record(w, 20_000, 5)
  assert.equal(again.buf.buffer, first[0]!.buf.buffer)
  assert.ok(intact(next, 3))
})

Deno.test("slabs: a slab with a record still out is never written again", () => {
  const w = new ProtoWriter(slabSize)
  const first = [record(w, 20_000, 1), record(w, 20_000, 2)]
  const buffers = new Set<ArrayBufferLike>()
  w.consumed(first[0]!)
  // The second record is still queued: however many slabs follow, none is its slab, and its bytes stay.
  for (let i = 0; i < 40; i++) {
    const r = record(w, 20_000, 10 + (i % 200))
    buffers.add(r.buf.buffer)
    w.consumed(r)
  }
  assert.ok(intact(first[1]!, 2))
  assert.ok(!buffers.has(first[1]!.buf.buffer))
  // Those slabs were consumed as they filled: one was enough.
  assert.equal(buffers.size, 1)
})

Deno.test("slabs: a record that grew its slab leaves the earlier records with the old one", () => {
  const w = new ProtoWriter(slabSize)
  const small = record(w, 1_000, 1)
  const big = record(w, 3 * slabSize, 2)
  assert.notEqual(big.buf.buffer, small.buf.buffer)
  w.consumed(big)
  for (let i = 0; i < 10; i++) w.consumed(record(w, 30_000, 3))
  assert.ok(intact(small, 1))
  w.consumed(small)
  // Everything was consumed: from now on the writer only writes slabs it already has.
  const seen = new Set<ArrayBufferLike>()
  for (let i = 0; i < 50; i++) {
    const r = record(w, 30_000, 4)
    seen.add(r.buf.buffer)
    w.consumed(r)
  }
  const known = new Set<ArrayBufferLike>([small.buf.buffer, big.buf.buffer])
  assert.ok([...seen].every((buffer) => known.has(buffer)))
})

Deno.test("slabs: records never reported consumed are left to the garbage collector, not kept", () => {
  const w = new ProtoWriter(slabSize)
  const kept: Array<SlabRecord> = []
  for (let i = 0; i < 200; i++) kept.push(record(w, 30_000, i % 250))
  // Every record still holds its bytes; the writer tracks a bounded number of slabs.
  kept.forEach((r, i) => assert.ok(intact(r, i % 250)))
  const retired = (w as unknown as { retired: Array<unknown> }).retired
  assert.ok(retired.length <= 16)
})

Deno.test("slabs: a batch copies its records in order, adjacent ones together, across slabs and gaps", () => {
  const w = new ProtoWriter(slabSize)
  const records = Array.from({ length: 8 }, (_, i) => record(w, 9_000 + i, i + 1))
  // Records 0-3 and 4-7 are in different slabs (past the headroom); record 5 is left out (dropped).
  assert.notEqual(records[4]!.buf, records[0]!.buf)
  const batch = records.filter((_, i) => i !== 5)
  const total = batch.reduce((sum, r) => sum + r.length, 0)
  const out = new Uint8Array(total + 3)
  assert.equal(copyRecords(out, 3, batch), total + 3)
  const expected = [0, 0, 0, ...batch.flatMap((r) => [...r.bytes()])]
  assert.deepEqual([...out], expected)
})
