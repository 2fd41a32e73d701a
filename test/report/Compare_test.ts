import assert from "node:assert/strict"
import { Report } from "../../mod.ts"
import { main } from "../../src/report/cli.ts"
import { beta, generator, holm, mannWhitney, shiftInterval, Side } from "../../src/report/internal/compare.ts"

type Line = Report.SummaryLine

/** A summary line with the given stage durations. */
const lineOf = (id: string, version: string, start: number, stages: Record<string, number>): Line => {
  let offset = 0
  const execs = Object.entries(stages).map(([stageId, durationMs]) => {
    const exec = {
      stageId,
      name: stageId,
      startOffsetMs: offset,
      durationMs,
      success: true,
      status: "ok" as const,
      metadata: {},
      substages: [],
    }
    offset += durationMs
    return exec
  })
  return {
    schema: "stagetrace.summary.v1",
    timestamp: new Date(start).toISOString(),
    service: { name: "chat", version },
    requestId: id,
    name: "chat",
    traceId: "t",
    spanId: "s",
    startTime: start,
    durationMs: offset,
    success: true,
    status: "ok",
    stageCount: execs.length,
    stages: execs,
    bottlenecks: [],
    attributes: {},
    truncated: false,
    overBudget: false,
    sampled: true,
    keptBecause: undefined,
  }
}

/** Log-normal latencies around `median`. */
const latency = (random: () => number) => (median: number) =>
  median * Math.exp(0.4 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()))

/** A deployment: `n` requests; `scale` multiplies each stage's median. */
const deployment = (version: string, n: number, seed: number, scale: Record<string, number> = {}) => {
  const random = generator(seed)
  const l = latency(random)
  const start = version === "1.0.0" ? 1_000_000 : 2_000_000
  return Array.from({ length: n }, (_, i) =>
    lineOf(`${version}-${i}`, version, start + i, {
      auth: l(2 * (scale.auth ?? 1)),
      cache: l(5 * (scale.cache ?? 1)),
      kb_search: l(40 * (scale.kb_search ?? 1)),
      llm: l(200 * (scale.llm ?? 1)),
    }))
}

Deno.test("Report.compare() names the stage that got slower and the one that got faster", () => {
  const before = deployment("1.0.0", 400, 1)
  const after = deployment("1.1.0", 400, 2, { kb_search: 1.3, cache: 0.6 })
  const c = Report.compare(before, after)
  assert.deepEqual(c.slower, ["kb_search"])
  assert.deepEqual(c.faster, ["cache"])
  const kb = c.stages.find((s) => s.stageId === "kb_search")!
  assert.equal(kb.verdict, "slower")
  assert.ok(kb.test!.pAdjusted < 0.001)
  assert.ok(kb.test!.probabilityOfSuperiority > 0.6)
  const p95 = kb.shifts[1]!
  assert.equal(p95.quantile, 0.95)
  assert.ok(p95.significant && p95.ciLowMs > 0 && p95.ciLowMs <= p95.deltaMs && p95.deltaMs <= p95.ciHighMs)
  assert.ok(p95.relative > 0.1 && p95.relative < 0.6, `relative ${p95.relative}`)
  assert.equal(c.stages[0]!.stageId, "(request)")
  for (const id of ["auth", "llm"]) assert.equal(c.stages.find((s) => s.stageId === id)!.verdict, "unchanged")
  assert.match(Report.compareToText(c), /Slower: kb_search \(p95 \+\d+%\)\nFaster: cache/)
  const html = Report.compareToHtml(c)
  assert.match(html, /<span id="slower">kb_search<\/span>/)
  assert.doesNotMatch(html, /<script/)
})

Deno.test("Report.compare() finds no change between two samples of the same deployment", () => {
  const c = Report.compare(deployment("1.0.0", 300, 3), deployment("1.1.0", 300, 4))
  assert.deepEqual(c.slower, [])
  assert.deepEqual(c.faster, [])
  assert.ok(c.stages.every((s) => s.verdict === "unchanged"))
})

Deno.test("Report.compare() does not test stages with too few samples", () => {
  const c = Report.compare(deployment("1.0.0", 10, 5), deployment("1.1.0", 10, 6, { llm: 3 }))
  assert.ok(c.stages.every((s) => s.verdict === "too few samples" && s.test === undefined))
  assert.deepEqual(c.slower, [])
})

Deno.test("mannWhitney() matches the textbook normal approximation, ties included", () => {
  const separated = mannWhitney(Float64Array.of(1, 2, 3, 4, 5), Float64Array.of(6, 7, 8, 9, 10))
  assert.equal(separated.u, 25)
  assert.equal(separated.probabilityOfSuperiority, 1)
  // z = (25 − 12.5 − 0.5) / sqrt(25/12 × 11); SciPy's asymptotic p with continuity correction: 0.01219.
  assert.ok(Math.abs(separated.z - 2.5067) < 1e-3, `z ${separated.z}`)
  assert.ok(Math.abs(separated.p - 0.01219) < 1e-4, `p ${separated.p}`)
  const tied = mannWhitney(Float64Array.of(1, 2, 2, 3), Float64Array.of(2, 3, 3, 4))
  // Ranks: 1→1, 2→3 (×3), 3→6 (×3), 4→8; after = 3 + 6 + 6 + 8 = 23, U = 23 − 10 = 13.
  assert.equal(tied.u, 13)
  assert.ok(tied.p > 0.05)
  assert.equal(mannWhitney(Float64Array.of(1, 1), Float64Array.of(1, 1)).p, 1)
})

Deno.test("holm() adjusts p-values step-down and keeps them monotone", () => {
  assert.deepEqual(holm([0.01, 0.04, 0.03]).map((p) => Math.round(p * 1e6) / 1e6), [0.03, 0.06, 0.06])
  assert.deepEqual(holm([0.5, 0.9]), [1, 1])
})

Deno.test("beta() draws with the right mean, and a shift's bootstrap interval covers the true shift", () => {
  const random = generator(9)
  let sum = 0
  for (let i = 0; i < 20_000; i++) sum += beta(3, 7, random)
  assert.ok(Math.abs(sum / 20_000 - 0.3) < 0.005)
  const base = Float64Array.from({ length: 2000 }, (_, i) => 10 + (i % 100) / 10).sort()
  const shifted = base.map((x) => x + 2)
  const [low, high] = shiftInterval(base, shifted, 0.5, 1000, random)
  assert.ok(low <= 2 && 2 <= high && high - low < 1, `[${low}, ${high}]`)
  const [same1, same2] = shiftInterval(base, base, 0.95, 1000, random)
  assert.ok(same1 <= 0 && 0 <= same2)
})

Deno.test("Side keeps at most maxSamples durations per stage", () => {
  const side = new Side("x", 100, 1)
  for (let i = 0; i < 1000; i++) side.add(lineOf(`r${i}`, "1", i, { auth: i }))
  const entry = side.samples.get("auth")!
  assert.equal(entry.values.length, 100)
  assert.equal(entry.seen, 1000)
  assert.ok(Math.max(...entry.values) > 500, "later values replace earlier ones")
})

Deno.test("deno task report --compare compares two paths, or one log split by service.version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stagetrace-compare-" })
  const write = (path: string, lines: ReadonlyArray<Line>) =>
    Deno.writeTextFile(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n")
  const before = deployment("1.0.0", 300, 11)
  const after = deployment("1.1.0", 300, 12, { llm: 1.5 })
  await write(`${dir}/before.jsonl`, before)
  await write(`${dir}/after.jsonl`, after)
  await Deno.mkdir(`${dir}/both`)
  await write(`${dir}/both/a.jsonl`, [...before, ...after])
  const log = console.log
  const printed: Array<string> = []
  console.log = (...args: Array<unknown>) => printed.push(args.join(" "))
  try {
    assert.equal(await main(["--compare", `${dir}/before.jsonl`, `${dir}/after.jsonl`]), 0)
    assert.match(printed.join("\n"), /Slower: llm/)
    assert.ok((await Deno.readTextFile(`${dir}/after.compare.html`)).includes('<span id="slower">llm</span>'))
    printed.length = 0
    assert.equal(await main(["--compare", `${dir}/both`, "--out", `${dir}/split.html`]), 0)
    assert.match(printed.join("\n"), /version 1\.0\.0[\s\S]*version 1\.1\.0[\s\S]*Slower: llm/)
    printed.length = 0
    assert.equal(
      await main(["--compare", `${dir}/both`, "--versions", "1.1.0,1.0.0", "--out", `${dir}/r.html`]),
      0,
    )
    assert.match(printed.join("\n"), /Faster: llm/)
  } finally {
    console.log = log
  }
  const error = console.error
  console.error = () => {}
  try {
    assert.equal(await main(["--compare", `${dir}/before.jsonl`]), 1, "a single version cannot be split")
    assert.equal(await main(["--compare"]), 2)
  } finally {
    console.error = error
  }
  await Deno.remove(dir, { recursive: true })
})
