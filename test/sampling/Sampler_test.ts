import assert from "node:assert/strict"
import { Sampler } from "../../mod.ts"
import { thresholdOf } from "../../src/sampling/internal/bits.ts"

/** `count` random 32-hex-digit trace ids. */
const randomTraceIds = (count: number): Array<string> => {
  const bytes = new Uint8Array(16 * count)
  for (let offset = 0; offset < bytes.length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(bytes.length, offset + 65536)))
  }
  const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
  const ids: Array<string> = []
  for (let i = 0; i < count; i++) {
    let id = ""
    for (let j = 0; j < 16; j++) id += hex[bytes[i * 16 + j]!]
    ids.push(id)
  }
  return ids
}

const traceIds = randomTraceIds(200_000)
const decide = (sampler: Sampler.Sampler, traceId: string, extra: Partial<Sampler.SamplingInput> = {}) =>
  Sampler.shouldSample(sampler, { name: "chat", traceId, ...extra })

Deno.test("Sampler.consistentRatio() samples within ±0.5 points of the rate over 200k random trace ids", () => {
  for (const rate of [0.001, 0.01, 0.1, 0.5, 1]) {
    const sampler = Sampler.consistentRatio(rate)
    let sampled = 0
    for (const traceId of traceIds) if (sampler.shouldSample({ name: "chat", traceId }).sampled) sampled++
    const share = sampled / traceIds.length
    assert.ok(Math.abs(share - rate) <= 0.005, `rate ${rate}: sampled share ${share}`)
  }
})

Deno.test("Sampler.consistentRatio() gives the same decision for the same trace id in every sampler instance", () => {
  const a = Sampler.consistentRatio(0.3)
  const b = Sampler.consistentRatio(0.3)
  for (const traceId of traceIds.slice(0, 5000)) {
    assert.deepEqual(decide(a, traceId), decide(b, traceId))
    assert.deepEqual(decide(a, traceId), decide(a, traceId))
  }
})

Deno.test("Sampler.consistentRatio() decides on the low 56 bits of the trace id: sampled iff R >= T", () => {
  // R = 0x80000000000000 exactly T(0.5): sampled; one less: not sampled.
  assert.equal(decide(Sampler.consistentRatio(0.5), "ffffffffffffffffff80000000000000").sampled, true)
  assert.equal(decide(Sampler.consistentRatio(0.5), "0000000000000000007fffffffffffff").sampled, false)
  // The high 72 bits do not matter.
  assert.equal(decide(Sampler.consistentRatio(0.5), "0000000000000000007fffffffffffff").sampled, false)
  assert.equal(decide(Sampler.consistentRatio(0.5), "ffffffffffffffffff7fffffffffffff").sampled, false)
})

Deno.test("Sampler.consistentRatio() encodes thresholds as the OpenTelemetry specification's examples", () => {
  const always = "ffffffffffffffffffffffffffffffff"
  assert.equal(decide(Sampler.consistentRatio(1), always).traceState, "ot=th:0")
  assert.equal(decide(Sampler.consistentRatio(0.5), always).traceState, "ot=th:8")
  assert.equal(decide(Sampler.consistentRatio(0.25), always).traceState, "ot=th:c")
  assert.equal(decide(Sampler.consistentRatio(0.125), always).traceState, "ot=th:e")
  assert.equal(decide(Sampler.consistentRatio(0.0625), always).traceState, "ot=th:f")
  // T = round((1 - p) × 2^56), full precision, trailing zeros removed.
  assert.equal(thresholdOf(0.01).th, "fd70a3d70a3d71")
  // 1/3 is 0x15555555555555 × 2^-54 in binary64, so T = 2^56 - 0x55555555555554.
  assert.equal(thresholdOf(1 / 3).th, "aaaaaaaaaaaaac")
  assert.equal(thresholdOf(2 ** -56).th, "ffffffffffffff")
  assert.equal(thresholdOf(0).sampling, false)
})

Deno.test("Sampler.consistentRatio() at a lower rate samples a subset of what a higher rate samples", () => {
  const rates = [0.001, 0.01, 0.1, 0.3, 0.5, 0.9, 1]
  const samplers = rates.map((rate) => Sampler.consistentRatio(rate))
  for (const traceId of traceIds.slice(0, 50_000)) {
    let previous = false
    for (const sampler of samplers) {
      const sampled = decide(sampler, traceId).sampled
      assert.ok(!previous || sampled, `${traceId} sampled at a lower rate but not at a higher one`)
      previous = sampled
    }
  }
})

Deno.test("Sampler.consistentRatio() in a child service with a lower rate keeps a subset of the parent's traces", () => {
  // Front end at 50% (parent-based), back end at 10% (its own ratio, independent of the parent).
  const front = Sampler.parentBased(Sampler.consistentRatio(0.5))
  const back = Sampler.consistentRatio(0.1)
  let frontKept = 0
  let backKept = 0
  for (const traceId of traceIds.slice(0, 50_000)) {
    const upstream = decide(front, traceId)
    const downstream = decide(back, traceId, {
      parent: { sampled: upstream.sampled, remote: true },
      traceState: upstream.traceState,
    })
    if (upstream.sampled) frontKept++
    if (downstream.sampled) {
      backKept++
      assert.equal(upstream.sampled, true)
      assert.equal(downstream.traceState, "ot=th:e6666666666666")
    }
  }
  assert.ok(backKept > 0 && backKept < frontKept)
})

Deno.test("Sampler.consistentRatio() uses the rv tracestate value as randomness and keeps it", () => {
  const lowTraceId = "00000000000000000000000000000001"
  const traceState = "vendor=x,ot=rv:fffffffffffff0;foo:bar"
  const result = decide(Sampler.consistentRatio(0.5), lowTraceId, {
    parent: { sampled: true, remote: true },
    traceState,
  })
  assert.equal(result.sampled, true)
  // The modified `ot` member moves to the front; other vendors and `ot` sub-keys are kept.
  assert.equal(result.traceState, "ot=th:8;rv:fffffffffffff0;foo:bar,vendor=x")
  const rejected = decide(Sampler.consistentRatio(0.5), "ffffffffffffffffffffffffffffffff", {
    parent: { sampled: true, remote: true },
    traceState: "ot=rv:00000000000001",
  })
  assert.deepEqual(rejected, { sampled: false, traceState: "ot=rv:00000000000001" })
})

Deno.test('Sampler.consistentRatio(rate, { by: "requestId" }) decides on an FNV-1a hash of the request id', () => {
  // FNV-1a-64("req-abc-123") & (2^56 - 1) = 0x36d8ed6b97e657, so R / 2^56 ≈ 0.2143: sampled iff p ≥ 0.7857.
  const input = { name: "chat", traceId: "ffffffffffffffffffffffffffffffff", requestId: "req-abc-123" }
  const keep = Sampler.consistentRatio(0.8, { by: "requestId" }).shouldSample(input)
  assert.equal(keep.sampled, true)
  // A root records the request-id randomness as the trace's `rv`, so downstream samplers agree.
  assert.equal(keep.traceState, "ot=th:3333333333333;rv:36d8ed6b97e657")
  assert.deepEqual(Sampler.consistentRatio(0.75, { by: "requestId" }).shouldSample(input), {
    sampled: false,
    traceState: "ot=rv:36d8ed6b97e657",
  })
  // A downstream trace-id sampler using that rv reaches the same decision.
  const downstream = Sampler.consistentRatio(0.8).shouldSample({
    name: "chat",
    traceId: "00000000000000000000000000000000",
    parent: { sampled: true, remote: true },
    traceState: keep.traceState,
  })
  assert.equal(downstream.sampled, true)
  // Below a parent the request id is not the trace's randomness: no `th` is claimed.
  const child = Sampler.consistentRatio(0.8, { by: "requestId" }).shouldSample({
    ...input,
    parent: { sampled: true, remote: true },
    traceState: "ot=th:0,vendor=x",
  })
  assert.deepEqual(child, { sampled: true, traceState: "vendor=x" })
})

Deno.test('Sampler.consistentRatio(rate, { by: "requestId" }) gives one id the same decision every time', () => {
  const a = Sampler.consistentRatio(0.1, { by: "requestId" })
  const b = Sampler.consistentRatio(0.1, { by: "requestId" })
  let sampled = 0
  for (let i = 0; i < 20_000; i++) {
    const requestId = `request-${i}`
    const first = a.shouldSample({ name: "chat", traceId: traceIds[i]!, requestId })
    // A different trace id (another process, another run) does not change the decision.
    const second = b.shouldSample({ name: "chat", traceId: traceIds[i + 1]!, requestId })
    assert.equal(first.sampled, second.sampled)
    if (first.sampled) sampled++
  }
  assert.ok(Math.abs(sampled / 20_000 - 0.1) < 0.01, `share ${sampled / 20_000}`)
})

Deno.test("Sampler.alwaysOn() and Sampler.alwaysOff() set and erase the threshold", () => {
  const traceId = traceIds[0]!
  assert.deepEqual(decide(Sampler.alwaysOn, traceId), { sampled: true, traceState: "ot=th:0" })
  assert.deepEqual(decide(Sampler.alwaysOff, traceId), { sampled: false, traceState: undefined })
  assert.deepEqual(
    decide(Sampler.alwaysOff, traceId, {
      parent: { sampled: true, remote: true },
      traceState: "ot=th:8,b=1",
    }),
    { sampled: false, traceState: "b=1" },
  )
  assert.deepEqual(
    decide(Sampler.alwaysOn, traceId, { parent: { sampled: true, remote: true }, traceState: "b=1,ot=th:8" }),
    { sampled: true, traceState: "ot=th:0,b=1" },
  )
})

Deno.test("Sampler.parentBased() follows the parent and keeps its threshold only when consistent", () => {
  const sampler = Sampler.parentBased(Sampler.alwaysOff)
  const high = "ffffffffffffffffffffffffffffffff"
  const low = "00000000000000000000000000000001"
  // Root: the root sampler decides.
  assert.equal(decide(sampler, high).sampled, false)
  // Sampled remote parent with a consistent th (R ≥ T): kept as is.
  assert.deepEqual(
    decide(sampler, high, { parent: { sampled: true, remote: true }, traceState: "ot=th:8" }),
    {
      sampled: true,
      traceState: "ot=th:8",
    },
  )
  // Inconsistent th (R < T): still sampled, th erased (its probability cannot be trusted).
  assert.deepEqual(
    decide(sampler, low, {
      parent: { sampled: true, remote: true },
      traceState: "ot=th:8;rv:00000000000002,z=1",
    }),
    { sampled: true, traceState: "ot=rv:00000000000002,z=1" },
  )
  // Sampled parent without th: sampled, no th (unknown probability).
  assert.deepEqual(decide(sampler, high, { parent: { sampled: true, remote: false } }), {
    sampled: true,
    traceState: undefined,
  })
  // Unsampled parents, remote or local.
  assert.equal(
    decide(Sampler.parentBased(Sampler.alwaysOn), high, { parent: { sampled: false, remote: true } }).sampled,
    false,
  )
  assert.equal(
    decide(Sampler.parentBased(Sampler.alwaysOn), high, { parent: { sampled: false, remote: false } })
      .sampled,
    false,
  )
})

Deno.test("Sampler.parentBased() uses the per-parent samplers it is given", () => {
  const sampler = Sampler.parentBased(Sampler.alwaysOff, {
    remoteParentNotSampled: Sampler.alwaysOn,
    localParentSampled: Sampler.alwaysOff,
  })
  const traceId = traceIds[1]!
  assert.equal(decide(sampler, traceId, { parent: { sampled: false, remote: true } }).sampled, true)
  assert.equal(decide(sampler, traceId, { parent: { sampled: true, remote: false } }).sampled, false)
  assert.equal(decide(sampler, traceId, { parent: { sampled: true, remote: true } }).sampled, true)
  assert.match(
    sampler.description,
    /^ParentBased\{root=AlwaysOffSampler,remoteParentNotSampled=AlwaysOnSampler/,
  )
})

Deno.test("Sampler.rules() lets the first matching rule decide and sends the rest to otherwise", () => {
  const sampler = Sampler.rules([
    { name: "health", sampler: Sampler.alwaysOff },
    { name: /^admin\./g, sampler: Sampler.alwaysOn },
    {
      attributes: { "http.route": "/checkout", "tenant.tier": /^gold|platinum$/ },
      sampler: Sampler.alwaysOn,
    },
  ], Sampler.alwaysOff)
  const traceId = traceIds[2]!
  assert.equal(decide(sampler, traceId, { name: "health" }).sampled, false)
  // A global RegExp keeps matching (no lastIndex state between requests).
  for (let i = 0; i < 3; i++) assert.equal(decide(sampler, traceId, { name: "admin.users" }).sampled, true)
  assert.equal(
    decide(sampler, traceId, {
      name: "http",
      attributes: { "http.route": "/checkout", "tenant.tier": "gold" },
    })
      .sampled,
    true,
  )
  // Every listed attribute must match.
  assert.equal(
    decide(sampler, traceId, { name: "http", attributes: { "http.route": "/checkout" } }).sampled,
    false,
  )
  assert.equal(decide(sampler, traceId, { name: "other" }).sampled, false)
  // The default otherwise is OpenTelemetry's default sampler, ParentBased(AlwaysOn).
  const byDefault = Sampler.rules([{ name: "health", sampler: Sampler.alwaysOff }])
  assert.equal(decide(byDefault, traceId, { name: "chat" }).sampled, true)
  assert.equal(
    decide(byDefault, traceId, { name: "chat", parent: { sampled: false, remote: true } }).sampled,
    false,
  )
})

Deno.test("Sampler.isSampler() recognises samplers and nothing else", () => {
  assert.equal(Sampler.isSampler(Sampler.alwaysOn), true)
  assert.equal(Sampler.isSampler(Sampler.consistentRatio(0.5)), true)
  assert.equal(Sampler.isSampler({ description: "x", shouldSample: () => ({}) }), false)
  assert.equal(Sampler.isSampler(0.5), false)
  assert.equal(
    String(Sampler.parentBased(Sampler.consistentRatio(0.01))),
    "ParentBased{root=ConsistentRatio{0.01}}",
  )
})
