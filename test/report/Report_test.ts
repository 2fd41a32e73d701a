import assert from "node:assert/strict"
import { Report } from "../../mod.ts"
import { isSummaryLine, type SummaryLine } from "../../src/internal/jsonl.ts"
import { main } from "../../src/report/cli.ts"
import { quantileOf } from "../../src/report/internal/analyze.ts"
import { readFile } from "../../src/report/internal/read.ts"
import { escapeHtml } from "../../src/report/internal/html.ts"
import { generateLog } from "./_fixture.ts"

const parse = (lines: ReadonlyArray<string>): Array<SummaryLine> =>
  lines.map((l) => JSON.parse(l)).filter(isSummaryLine)

Deno.test("Report.analyze finds the story of a generated 3000-request log", async () => {
  const raw = await generateLog(3000)
  assert.equal(raw.length, 3000)
  const lines = parse(raw)
  assert.equal(lines.length, 3000)
  const analysis = Report.analyze(lines)
  assert.equal(analysis.requests, 3000)
  assert.deepEqual(analysis.services, ["chat"])

  // Per-stage percentiles are exact: recompute one from the lines.
  const llm = lines.flatMap((l) =>
    l.stages.filter((s) => s.stageId === "llm_request").map((s) => s.durationMs)
  )
    .sort((a, b) => a - b)
  const row = analysis.stages.find((s) => s.stageId === "llm_request")!
  assert.equal(row.count, 3000)
  assert.equal(row.p50Ms, quantileOf(llm, 0.5))
  assert.equal(row.p95Ms, quantileOf(llm, 0.95))
  assert.equal(row.p99Ms, quantileOf(llm, 0.99))
  assert.equal(analysis.stages[0]?.stageId, "llm_request")
  assert.ok(analysis.stages.some((s) => s.stageId === "kb_search"), "sub-stages are counted")

  // Latency over time shows the incident in the middle of the run.
  const llmSeries = analysis.timeline.series.find((s) => s.stageId === "llm_request")!.p95
  const middle = llmSeries[Math.floor(llmSeries.length * 0.52)]!
  const early = llmSeries[Math.floor(llmSeries.length * 0.1)]!
  assert.ok(middle > early * 1.4, `incident visible: ${middle} vs ${early}`)

  // The slowest requests, slowest first, with their stage bars.
  const durations = lines.map((l) => l.durationMs).sort((a, b) => b - a)
  assert.deepEqual(analysis.slowest.map((r) => r.durationMs), durations.slice(0, 6))
  assert.ok(analysis.slowest[0]!.bars.some((b) => b.stageId === "kb_rerank" && b.depth === 1))

  assert.equal(analysis.bottlenecks[0]?.stageId, "llm_request")
  assert.ok(analysis.overBudgetRequests > 0)
  assert.equal(analysis.budgets[0]?.stageId, "(request)")
  assert.deepEqual(analysis.errors.map((e) => e.category).sort(), ["data", "transient"])
  assert.equal(analysis.failedRequests, lines.filter((l) => !l.success).length)

  // Slow requests over-represent the large model, then the archive index.
  assert.equal(analysis.slowValues[0]?.value, "large")
  assert.ok(analysis.slowValues.some((v) => v.key === "kb_access.index" && v.value === "archive"))
  assert.ok(!analysis.slowValues.some((v) => v.value === "small"))
})

Deno.test("Report.analyze handles an empty log and foreign values without throwing", () => {
  const empty = Report.analyze([])
  assert.equal(empty.requests, 0)
  assert.equal(empty.overall.p95Ms, 0)
  assert.match(Report.toHtml(empty), /<svg id="latency-chart"/)
  assert.match(Report.toText(empty), /0 requests/)
})

Deno.test("Report.toHtml escapes text from the log and loads nothing from the network", async () => {
  const [first] = parse(await generateLog(20))
  const hostile = {
    ...first!,
    requestId: `<script>alert(1)</script>`,
    attributes: { note: `"><img src=x onerror=alert(1)>` },
  } as SummaryLine
  const html = Report.toHtml(Report.analyze([hostile]))
  assert.equal(html.includes("<script>alert(1)</script>"), false)
  assert.equal(html.includes("<img src=x"), false)
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//)
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/)
  assert.equal(escapeHtml(`a&b"c'`), "a&amp;b&quot;c&#39;")
})

Deno.test("Report.read skips foreign and malformed lines and reads every .jsonl of a directory", async () => {
  const dir = await Deno.makeTempDir()
  try {
    const lines = await generateLog(30)
    await Deno.writeTextFile(
      `${dir}/a.jsonl`,
      [lines.slice(0, 10).join("\n"), '{"level":"info"}', "not json"].join("\n"),
    )
    await Deno.writeTextFile(`${dir}/b.jsonl`, lines.slice(10).join("\n") + "\n")
    await Deno.writeTextFile(`${dir}/notes.txt`, "ignored")
    const result = await Report.read(dir)
    assert.deepEqual(result.sources, [`${dir}/a.jsonl`, `${dir}/b.jsonl`])
    assert.equal(result.lines.length, 30)
    assert.equal(result.skippedLines, 2)
  } finally {
    await Deno.remove(dir, { recursive: true })
  }
})

Deno.test("deno task report writes one HTML file and prints a text summary", async () => {
  const dir = await Deno.makeTempDir()
  const log = console.log
  const printed: Array<string> = []
  console.log = (...args: Array<unknown>) => void printed.push(args.join(" "))
  try {
    await Deno.writeTextFile(`${dir}/perf.jsonl`, (await generateLog(200)).join("\n"))
    const code = await main([`${dir}/perf.jsonl`])
    assert.equal(code, 0)
    const html = await Deno.readTextFile(`${dir}/perf.html`)
    assert.match(html, /^<!doctype html>/)
    const text = printed.join("\n")
    assert.match(text, /stagetrace report: 200 requests from 1 file/)
    assert.match(text, /llm_request +200 /)
    assert.match(text, /wrote .*perf\.html/)
    assert.equal(await main([`${dir}/missing.jsonl`]), 1)
    assert.equal(await main([]), 2)
  } finally {
    console.log = log
    await Deno.remove(dir, { recursive: true })
  }
})

const summaryLine = (
  id: string,
  durationMs: number,
  attributes: Record<string, string>,
  startTime = 0,
): SummaryLine => ({
  schema: "stagetrace.summary.v1",
  timestamp: new Date(startTime).toISOString(),
  service: { name: "chat" },
  requestId: id,
  name: "chat",
  traceId: "t",
  spanId: "s",
  startTime,
  durationMs,
  success: true,
  status: "ok",
  stageCount: 1,
  bottlenecks: [],
  attributes,
  truncated: false,
  overBudget: false,
  sampled: true,
  keptBecause: undefined,
  stages: [{
    stageId: "llm",
    name: "llm",
    startOffsetMs: 0,
    durationMs,
    success: true,
    status: "ok",
    metadata: {},
    substages: [],
  }],
})

Deno.test("Report.analyze finds no slow-request pattern when durations tie at the 90th percentile", () => {
  // Every request takes as long as the others: none is slow, nothing is over-represented among slow ones.
  const same = Array.from({ length: 50 }, (_, i) => summaryLine(`r${i}`, 10, { region: i % 2 ? "eu" : "us" }))
  assert.deepEqual(Report.analyze(same).slowValues, [])
  // 95 fast requests tie at the 90th percentile, 5 are slower and all from one region: that is the finding,
  // not the request name every request shares.
  const tied = Array.from(
    { length: 100 },
    (_, i) =>
      i < 95
        ? summaryLine(`r${i}`, 10, { region: i % 2 ? "eu" : "us" })
        : summaryLine(`r${i}`, 50, { region: "ap" }),
  )
  const analysis = Report.analyze(tied)
  assert.equal(analysis.slowThresholdMs, 50)
  assert.deepEqual(analysis.slowValues.map((v) => `${v.key}=${v.value}`), ["region=ap"])
})

Deno.test("Report renders lines with out-of-range start times instead of throwing", () => {
  const lines = [
    summaryLine("a", 10, {}, 1_764_000_000_000),
    { ...summaryLine("b", 20, {}, 1_764_000_000_000), startTime: 1e300 },
    { ...summaryLine("c", 30, {}), startTime: 8.64e15, durationMs: 1e300 },
  ]
  const analysis = Report.analyze(lines)
  assert.equal(analysis.requests, 3)
  assert.equal(analysis.from, 1_764_000_000_000)
  assert.match(Report.toHtml(analysis), /<svg id="latency-chart"/)
  assert.match(Report.toText(analysis), /3 requests/)
})

Deno.test("deno task report streams a large log instead of holding every line in memory", async () => {
  // 10,000 requests (≈19 MB): holding them as parsed lines needs far more than the 24 MB heap the report is
  // given here; analysing them as they are read needs a few numbers per request.
  const dir = await Deno.makeTempDir()
  try {
    const sample = await generateLog(100)
    const file = await Deno.open(`${dir}/big.jsonl`, { write: true, create: true })
    const encoder = new TextEncoder()
    for (let chunk = 0; chunk < 100; chunk++) {
      const text = sample.map((line, i) =>
        line.replace(/"requestId":"[^"]*"/, `"requestId":"r-${chunk}-${i}"`)
      )
        .join("\n") + "\n"
      await file.write(encoder.encode(text))
    }
    file.close()
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--v8-flags=--max-old-space-size=24",
        new URL("../../src/report/cli.ts", import.meta.url).pathname,
        `${dir}/big.jsonl`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output()
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr).slice(-500))
    assert.match(new TextDecoder().decode(output.stdout), /10000 requests/)
  } finally {
    await Deno.remove(dir, { recursive: true })
  }
})

Deno.test("Report.read skips a line longer than the limit without holding it, and reads the rest", async () => {
  const dir = await Deno.makeTempDir()
  try {
    const lines = await generateLog(3)
    // A valid summary line padded past the limit (a 50,000-character attribute) between two ordinary ones,
    // and a last line without "\n".
    const long = JSON.stringify({ ...JSON.parse(lines[1]!), attributes: { pad: "x".repeat(50_000) } })
    await Deno.writeTextFile(`${dir}/a.jsonl`, `${lines[0]}\n${long}\n${lines[2]}`)
    const read: Array<string> = []
    const skipped = await readFile(`${dir}/a.jsonl`, (line) => void read.push(line.requestId), 10_000)
    assert.equal(skipped, 1)
    assert.deepEqual(read, [lines[0]!, lines[2]!].map((l) => JSON.parse(l).requestId))
    // Under the default limit (16 MiB) the line is read.
    assert.equal((await Report.read(`${dir}/a.jsonl`)).lines.length, 3)
  } finally {
    await Deno.remove(dir, { recursive: true })
  }
})
