/**
 * The slabs encoded spans are views of (`ByteWriter.startRecord`/`takeRecord`): a slab is written again
 * only once every record in it was reported consumed, and never while one of its records may still be read.
 */
import assert from "node:assert/strict"
import { ProtoWriter } from "../../src/export/internal/protobuf.ts"

const slabSize = 64 * 1024
/** A record of `size` bytes, all `value`. */
const record = (w: ProtoWriter, size: number, value: number): Uint8Array => {
  w.startRecord(slabSize)
  w.ensure(size)
  w.buf.fill(value, w.pos, w.pos + size)
  w.pos += size
  return w.takeRecord()
}
const intact = (r: Uint8Array, value: number) => r.every((byte) => byte === value)

Deno.test("slabs: a full slab whose records were all consumed is written again", () => {
  const w = new ProtoWriter(slabSize)
  const first = [record(w, 20_000, 1), record(w, 20_000, 2)]
  // Past the headroom: the next record starts another slab.
  const next = record(w, 20_000, 3)
  assert.notEqual(next.buffer, first[0]!.buffer)
  for (const r of first) w.consumed(r)
  // The third slab is the first one again.
  record(w, 20_000, 4)
  const again = record(w, 20_000, 5)
  assert.equal(again.buffer, first[0]!.buffer)
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
    buffers.add(r.buffer)
    w.consumed(r)
  }
  assert.ok(intact(first[1]!, 2))
  assert.ok(!buffers.has(first[1]!.buffer))
  // Those slabs were consumed as they filled: one was enough.
  assert.equal(buffers.size, 1)
})

Deno.test("slabs: a record that grew its slab leaves the earlier records with the old one", () => {
  const w = new ProtoWriter(slabSize)
  const small = record(w, 1_000, 1)
  const big = record(w, 3 * slabSize, 2)
  assert.notEqual(big.buffer, small.buffer)
  w.consumed(big)
  for (let i = 0; i < 10; i++) w.consumed(record(w, 30_000, 3))
  assert.ok(intact(small, 1))
  w.consumed(small)
  // Everything was consumed: from now on the writer only writes slabs it already has.
  const seen = new Set<ArrayBufferLike>()
  for (let i = 0; i < 50; i++) {
    const r = record(w, 30_000, 4)
    seen.add(r.buffer)
    w.consumed(r)
  }
  const known = new Set<ArrayBufferLike>([small.buffer, big.buffer])
  assert.ok([...seen].every((buffer) => known.has(buffer)))
})

Deno.test("slabs: records never reported consumed are left to the garbage collector, not kept", () => {
  const w = new ProtoWriter(slabSize)
  const kept: Array<Uint8Array> = []
  for (let i = 0; i < 200; i++) kept.push(record(w, 30_000, i % 250))
  // Every record still holds its bytes; the writer tracks a bounded number of slabs.
  kept.forEach((r, i) => assert.ok(intact(r, i % 250)))
  const retired = (w as unknown as { retired: Array<unknown> }).retired
  assert.ok(retired.length <= 16)
})
