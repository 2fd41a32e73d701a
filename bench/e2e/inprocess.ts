/**
 * The end-to-end app's request path without sockets: every set-up's handler called in one process with
 * web `Request` objects, one request at a time (the realistic app, `<set-up>-real`: 200 at a time, as
 * `wrk -c200` keeps them; `--concurrency N` sets how many for either: the trivial app at 32 is what
 * `wrk -c32` keeps in flight), set-ups interleaved over rounds. Prints the CPU time per request
 * (`process.cpuUsage`, so other load on the machine matters less than for wall time), its
 * ratio to the bare app, and the heap bytes allocated per request (V8's own counter: the steadiest
 * figure on a busy machine, and what garbage collection pays for), and for the OTLP set-ups the spans the
 * exporter dropped in the measured rounds (a set-up that drops spans is partly measuring the drop path).
 * `--only mw-otlp0` also runs the middleware exporting at `sampleRate: 0` (every request dropped by
 * sampling). For profiling and quick checks; the figures that count come from `main.ts`.
 *
 *     deno run -A bench/e2e/inprocess.ts [--only core,mw] [--requests 20000] [--rounds 5]
 *     deno run -A bench/e2e/inprocess.ts --only core-real,mw-otlp10-real --requests 10000 --rounds 3
 *     deno run -A bench/e2e/inprocess.ts --only mw,mw-otlp10 --concurrency 32
 *     deno run -A --cpu-prof bench/e2e/inprocess.ts --only mw --rounds 1 --requests 200000
 */
import process from "node:process"
import v8 from "node:v8"
import { type ExportCounts, type Handler, makeHandler } from "./app.ts"

const argValue = (name: string): string | undefined => {
  const index = Deno.args.indexOf(name)
  return index < 0 ? undefined : Deno.args[index + 1]
}
const requests = Number(argValue("--requests") ?? 20_000)
const rounds = Number(argValue("--rounds") ?? 5)
const only = argValue("--only")?.split(",")
const all = ["bare", "withspan", "core", "mw", "mw-abort", "mw-otlp10", "mw-otlp100", "otel-sdk"]
const realistic = only?.some((v) => v.endsWith("-real")) === true
const base = realistic ? "bare-real" : "bare"
const chosen = only === undefined ? all : [base, ...only.filter((v) => v !== base)]
/**
 * Requests in flight: one for the trivial app, 200 for the realistic one (its requests mostly wait);
 * `--concurrency` sets it for either (32 for the trivial app is what `wrk -c32` keeps in flight).
 */
const concurrency = Number(argValue("--concurrency") ?? (realistic ? 200 : 1))
/** A trivial client's requests between two yields to the event loop: about 64 requests in all. */
const yieldEvery = Math.max(1, Math.round(64 / concurrency))

// The OTLP set-ups export to a sink in another process, so its work is not counted here.
let sinkUrl = argValue("--sink")
let sink: Deno.ChildProcess | undefined
if (sinkUrl === undefined && chosen.some((v) => v.includes("otlp") || v === "otel-sdk")) {
  sink = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("sink.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).spawn()
  const reader = sink.stdout.getReader()
  const { value } = await reader.read()
  sinkUrl = `http://127.0.0.1:${(JSON.parse(new TextDecoder().decode(value)) as { port: number }).port}`
  reader.releaseLock()
}

const handlers = new Map<
  string,
  { handler: Handler; dispose: () => Promise<void>; exportCounts?: () => Promise<ExportCounts> }
>()
for (const variant of chosen) {
  handlers.set(variant, await makeHandler(variant, sinkUrl ?? "http://127.0.0.1:9"))
}

/** Bytes the heap allocated so far (V8's counter: steady, unlike CPU time on a busy machine). */
const allocated = (): number =>
  (v8.getHeapStatistics() as { total_allocated_bytes?: number }).total_allocated_bytes ?? 0

const runMany = async (handler: Handler, n: number): Promise<[cpuUs: number, bytes: number]> => {
  const bytes = allocated()
  const start = process.cpuUsage()
  let next = 0
  const client = async () => {
    let mine = 0
    for (let i = next++; i < n; i = next++) {
      const response = await handler(new Request("http://127.0.0.1:8000/"))
      if (response.status !== 200) throw new Error(`status ${response.status}`)
      // Let timers and background fibers (the exporters) run, as a server's event loop would: they only
      // run once every client waits, so each trivial client yields every `yieldEvery` of its requests.
      if (realistic ? (i & 63) === 63 : ++mine % yieldEvery === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0))
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  const used = process.cpuUsage(start)
  return [(used.user + used.system) / n, (allocated() - bytes) / n]
}

for (const { handler } of handlers.values()) await runMany(handler, Math.min(requests, 5000))
const results = new Map<string, Array<number>>(chosen.map((v) => [v, []]))
const allocations = new Map<string, Array<number>>(chosen.map((v) => [v, []]))
/** Spans the exporter dropped during the measured rounds, per OTLP set-up. */
const droppedSpans = new Map<string, number>()
const droppedSoFar = async (variant: string): Promise<number | undefined> => {
  const counts = await handlers.get(variant)!.exportCounts?.()
  return counts === undefined ? undefined : Object.values(counts.dropped).reduce((a, b) => a + b, 0)
}
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < chosen.length; i++) {
    const variant = chosen[(i + round) % chosen.length]!
    const droppedBefore = await droppedSoFar(variant)
    const [us, bytes] = await runMany(handlers.get(variant)!.handler, requests)
    const droppedAfter = await droppedSoFar(variant)
    if (droppedBefore !== undefined && droppedAfter !== undefined) {
      droppedSpans.set(variant, (droppedSpans.get(variant) ?? 0) + droppedAfter - droppedBefore)
    }
    results.get(variant)!.push(us)
    allocations.get(variant)!.push(bytes)
  }
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const bare = median(results.get(base)!)
console.log(
  "| set-up | CPU µs/request | of bare (throughput) | fastest round | heap bytes allocated/request | spans dropped |",
)
console.log("| --- | ---: | ---: | ---: | ---: | ---: |")
for (const [variant, values] of results) {
  const us = median(values)
  const bytes = median(allocations.get(variant)!)
  const dropped = droppedSpans.get(variant)
  console.log(
    `| ${variant} | ${us.toFixed(2)} | ${(bare / us).toFixed(2)} | ${Math.min(...values).toFixed(2)} | ${
      bytes.toFixed(0)
    } | ${dropped === undefined ? "–" : dropped} |`,
  )
}

for (const { dispose } of handlers.values()) await dispose()
if (sink !== undefined) {
  sink.kill("SIGTERM")
  await sink.status
}
