/**
 * The end-to-end benchmark (`deno task bench:e2e`): the same small `Deno.serve` app under each set-up, each
 * in its own `deno run` process on 127.0.0.1, driven by `wrk`, the set-ups interleaved over several rounds.
 * Prints req/s, p50/p99 latency, CPU time per request and peak RSS of the server process, and the ratio of
 * each set-up's req/s to the bare app's in the same round (the median over rounds).
 *
 * On a machine with 2 or more cores the server runs pinned to CPU 0 and `wrk` and the OTLP sink to CPU 1
 * (`taskset`), so the server has one core to itself and the load generator the other.
 *
 *     deno task bench:e2e                       # the table (about 4 minutes)
 *     deno task bench:e2e --rounds 5 --duration 8
 *     deno task bench:e2e --only bare,core,mw   # some set-ups only
 *     deno task bench:e2e --soak                # heap and RSS over 2M requests, dead and live collector
 *     deno task bench:e2e --json e2e.json       # also write every measurement
 *
 * `wrk` (Debian's package) is installed with `apt-get install wrk` when it is missing and the task runs as
 * root; otherwise the task stops and says how to install it.
 */

// ---------------------------------------------------------------------------------------------------------
// Set-ups
// ---------------------------------------------------------------------------------------------------------

interface Variant {
  readonly id: string
  readonly label: string
  readonly realistic: boolean
  readonly env?: Readonly<Record<string, string>>
}

const trivial = (id: string, label: string, env?: Record<string, string>): Variant => ({
  id,
  label,
  realistic: false,
  ...(env === undefined ? {} : { env }),
})

const variants: ReadonlyArray<Variant> = [
  trivial("bare", "bare app (`ManagedRuntime.runPromise`, no spans)"),
  trivial("withspan", "11 `Effect.withSpan`, native tracer"),
  trivial("core", "`Request.track` + 10 `Stage.track`, `Telemetry.layer()`"),
  trivial("bare-reads", "bare app reading what `Http.middleware` reads (method, URL, 4 headers, address)"),
  trivial("mw", "+ `Http.middleware` (default options)"),
  trivial("mw-abort", "+ `Http.middleware`, `interruptOnAbort: true`"),
  trivial("mw-otlp10", "+ OTLP/protobuf export at `sampleRate: 0.1`"),
  trivial("mw-otlp100", "+ OTLP/protobuf export of every request"),
  trivial("otel-sdk", "11 `withSpan` → `@effect/opentelemetry` → SDK `BatchSpanProcessor` → OTLP/proto"),
  trivial("deno-native", "bare app + Deno's native OTel (`OTEL_DENO=true`, one server span)", {
    OTEL_DENO: "true",
  }),
  { id: "bare-real", label: "realistic app, bare", realistic: true },
  { id: "mw-otlp10-real", label: "realistic app, `Http.middleware` + export at 10%", realistic: true },
]

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

const argValue = (name: string): string | undefined => {
  const index = Deno.args.indexOf(name)
  return index < 0 ? undefined : Deno.args[index + 1]
}
const numberArg = (name: string, fallback: number): number => {
  const value = argValue(name)
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number: got ${value}`)
  return n
}

const options = {
  rounds: numberArg("--rounds", 3),
  warmup: numberArg("--warmup", 1),
  duration: numberArg("--duration", 4),
  connections: numberArg("--connections", 32),
  realConnections: numberArg("--real-connections", 200),
  only: argValue("--only")?.split(","),
  json: argValue("--json"),
  soak: Deno.args.includes("--soak"),
  soakRequests: numberArg("--soak-requests", 2_000_000),
  soakVariant: argValue("--soak-variant") ?? "mw-otlp100",
}

const here = new URL(".", import.meta.url)
const serverPath = new URL("server.ts", here).pathname
const sinkPath = new URL("sink.ts", here).pathname

// ---------------------------------------------------------------------------------------------------------
// Machine: wrk, taskset, cores
// ---------------------------------------------------------------------------------------------------------

const commandWorks = async (command: string, args: Array<string>): Promise<boolean> => {
  try {
    await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output()
    return true
  } catch {
    return false
  }
}

const run = async (command: string, args: Array<string>): Promise<{ code: number; stdout: string }> => {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "inherit" }).output()
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) }
}

const ensureWrk = async (): Promise<void> => {
  if (await commandWorks("wrk", ["--version"])) return
  if (Deno.uid() !== 0) {
    throw new Error(
      "wrk is not installed and this task is not running as root: install it (`sudo apt-get install wrk` on " +
        "Debian/Ubuntu), then run `deno task bench:e2e` again",
    )
  }
  console.error("wrk is missing: apt-get install wrk")
  let installed = await run("apt-get", ["install", "-y", "--no-install-recommends", "wrk"])
  if (installed.code !== 0) {
    await run("apt-get", ["update"])
    installed = await run("apt-get", ["install", "-y", "--no-install-recommends", "wrk"])
  }
  if (installed.code !== 0 || !(await commandWorks("wrk", ["--version"]))) {
    throw new Error("Cannot install wrk with apt-get: install Debian's `wrk` package and run the task again")
  }
}

const cores = navigator.hardwareConcurrency
const pinned = cores >= 2 && await commandWorks("taskset", ["--version"])
/** The command line that runs `args` pinned to `cpu` (when pinning is possible). */
const onCpu = (cpu: number, command: string, args: Array<string>): [string, Array<string>] =>
  pinned ? ["taskset", ["-c", String(cpu), command, ...args]] : [command, args]

const clockTicks = Number((await run("getconf", ["CLK_TCK"]).catch(() => ({ stdout: "100" }))).stdout) || 100

/** CPU time (user + system) of a process so far, in seconds. */
const cpuSeconds = async (pid: number): Promise<number> => {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`)
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted from after the command name.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

/** A line of /proc/<pid>/status in bytes (VmHWM: peak RSS, VmRSS: current). */
const statusBytes = async (pid: number, key: "VmHWM" | "VmRSS"): Promise<number> => {
  const status = await Deno.readTextFile(`/proc/${pid}/status`)
  const match = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))
  return match === null ? Number.NaN : Number(match[1]) * 1024
}

// ---------------------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------------------

interface Served {
  readonly process: Deno.ChildProcess
  readonly port: number
  /** The OTLP set-ups' second port, answering stagetrace's own export counts (see server.ts). */
  readonly statsPort: number | undefined
  readonly stderr: () => string
  readonly stop: () => Promise<void>
}

/** Starts a process that prints `{"port":…}` first, and waits for that line. */
const startListening = async (
  cpu: number,
  args: Array<string>,
  env: Record<string, string>,
): Promise<Served> => {
  const [command, commandArgs] = onCpu(cpu, Deno.execPath(), args)
  const process = new Deno.Command(command, {
    args: commandArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn()
  let errText = ""
  void (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of process.stderr) {
      if (errText.length < 64_000) errText += decoder.decode(chunk, { stream: true })
    }
  })()
  const reader = process.stdout.getReader()
  const decoder = new TextDecoder()
  let buffered = ""
  const timeout = setTimeout(() => process.kill("SIGKILL"), 60_000)
  let port: number | undefined
  let statsPort: number | undefined
  while (port === undefined) {
    const { value, done } = await reader.read()
    if (done) break
    buffered += decoder.decode(value, { stream: true })
    const newline = buffered.indexOf("\n")
    if (newline >= 0) {
      const first = JSON.parse(buffered.slice(0, newline)) as { port: number; statsPort?: number }
      port = first.port
      statsPort = first.statsPort
    }
  }
  clearTimeout(timeout)
  if (port === undefined) throw new Error(`${args.join(" ")} did not start:\n${errText}`)
  // Keep draining stdout so the child never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })()
  const stop = async () => {
    try {
      process.kill("SIGTERM")
    } catch { /* already gone */ }
    const killer = setTimeout(() => {
      try {
        process.kill("SIGKILL")
      } catch { /* already gone */ }
    }, 5000)
    await process.status
    clearTimeout(killer)
  }
  return { process, port, statsPort, stderr: () => errText, stop }
}

interface WrkResult {
  readonly requests: number
  readonly seconds: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
}

const toMs = (text: string): number => {
  const match = text.match(/^([\d.]+)(us|ms|s)$/)
  if (match === null) return Number.NaN
  const value = Number(match[1])
  return match[2] === "us" ? value / 1000 : match[2] === "ms" ? value : value * 1000
}

const wrk = async (url: string, connections: number, seconds: number): Promise<WrkResult> => {
  const [command, args] = onCpu(1, "wrk", [
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    url,
  ])
  const { code, stdout } = await run(command, args)
  if (code !== 0) throw new Error(`wrk failed (exit ${code}):\n${stdout}`)
  const requests = stdout.match(/(\d+) requests in ([\d.]+)(us|ms|s|m)/)
  const p50 = stdout.match(/^\s+50%\s+(\S+)/m)
  const p99 = stdout.match(/^\s+99%\s+(\S+)/m)
  const socket = stdout.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/)
  const non2xx = stdout.match(/Non-2xx or 3xx responses: (\d+)/)
  if (requests === null || p50 === null || p99 === null) {
    throw new Error(`Cannot read wrk's output:\n${stdout}`)
  }
  const elapsed = toMs(`${requests[2]}${requests[3] === "m" ? "s" : requests[3]}`) / 1000 *
    (requests[3] === "m" ? 60 : 1)
  const count = Number(requests[1])
  const errors = (socket === null ? 0 : socket.slice(1).reduce((a, b) => a + Number(b), 0)) +
    (non2xx === null ? 0 : Number(non2xx[1]))
  return {
    requests: count,
    seconds: elapsed,
    rps: count / elapsed,
    p50Ms: toMs(p50[1]!),
    p99Ms: toMs(p99[1]!),
    errors,
  }
}

const startServer = (variant: Variant, sinkUrl: string, extra: Array<string> = [], v8: Array<string> = []) =>
  startListening(0, ["run", "-A", ...v8, serverPath, variant.id, "--sink", sinkUrl, ...extra], {
    OTEL_DENO: "false",
    OTEL_SERVICE_NAME: "e2e",
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    ...variant.env,
  })

const checkServes = async (url: string): Promise<void> => {
  const response = await fetch(url)
  const text = await response.text()
  if (response.status !== 200 || text !== "ok") {
    throw new Error(`${url} answered ${response.status} ${JSON.stringify(text.slice(0, 200))}`)
  }
}

// ---------------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------------

/** The spans of the measured window of an OTLP set-up, by stagetrace's own counters and by the sink. */
interface SpanAccounting {
  /** Spans that reached the export pipeline: exported + dropped + the change in the queue. */
  readonly produced: number
  /** Spans the exporter counted as delivered. */
  readonly exported: number
  /** Spans dropped, by reason. */
  readonly dropped: Readonly<Record<string, number>>
  /** Spans the sink decoded from the trace exports it received. */
  readonly received: number
}

interface Measurement extends WrkResult {
  readonly variant: string
  readonly round: number
  readonly cpuUsPerRequest: number
  readonly peakRssBytes: number
  readonly spans?: SpanAccounting
}

interface ExportCounts {
  readonly exported: number
  readonly dropped: Readonly<Record<string, number>>
  readonly queued: number
}

const exportCounts = async (statsPort: number): Promise<ExportCounts> =>
  await (await fetch(`http://127.0.0.1:${statsPort}/`)).json() as ExportCounts

const sinkSpans = async (sinkUrl: string): Promise<number> => {
  const stats = await (await fetch(`${sinkUrl}/stats`)).json() as Record<string, { spans?: number }>
  return stats["/v1/traces"]?.spans ?? 0
}

const droppedTotal = (dropped: Readonly<Record<string, number>>): number =>
  Object.values(dropped).reduce((a, b) => a + b, 0)

/** The window's accounting from the counts before and after it. */
const accounting = (
  before: ExportCounts,
  after: ExportCounts,
  receivedBefore: number,
  receivedAfter: number,
): SpanAccounting => {
  const dropped: Record<string, number> = {}
  for (const reason of new Set([...Object.keys(before.dropped), ...Object.keys(after.dropped)])) {
    const n = (after.dropped[reason] ?? 0) - (before.dropped[reason] ?? 0)
    if (n > 0) dropped[reason] = n
  }
  const exported = after.exported - before.exported
  return {
    produced: exported + droppedTotal(dropped) + after.queued - before.queued,
    exported,
    dropped,
    received: receivedAfter - receivedBefore,
  }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const measureOnce = async (
  variant: Variant,
  round: number,
  sinkUrl: string,
): Promise<{ measurement: Measurement; stderr: string }> => {
  const server = await startServer(variant, sinkUrl)
  try {
    const url = `http://127.0.0.1:${server.port}/`
    await checkServes(url)
    const connections = variant.realistic ? options.realConnections : options.connections
    await wrk(url, connections, options.warmup)
    const pid = server.process.pid
    const statsPort = server.statsPort
    const countsBefore = statsPort === undefined ? undefined : await exportCounts(statsPort)
    const receivedBefore = statsPort === undefined ? 0 : await sinkSpans(sinkUrl)
    const cpuBefore = await cpuSeconds(pid)
    const result = await wrk(url, connections, options.duration)
    const cpuAfter = await cpuSeconds(pid)
    const countsAfter = statsPort === undefined ? undefined : await exportCounts(statsPort)
    const receivedAfter = statsPort === undefined ? 0 : await sinkSpans(sinkUrl)
    const peakRssBytes = await statusBytes(pid, "VmHWM")
    return {
      measurement: {
        ...result,
        variant: variant.id,
        round,
        cpuUsPerRequest: (cpuAfter - cpuBefore) / result.requests * 1e6,
        peakRssBytes,
        ...(countsBefore === undefined || countsAfter === undefined
          ? {}
          : { spans: accounting(countsBefore, countsAfter, receivedBefore, receivedAfter) }),
      },
      stderr: server.stderr(),
    }
  } finally {
    await server.stop()
  }
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–"

const printTable = (measurements: ReadonlyArray<Measurement>, chosen: ReadonlyArray<Variant>): void => {
  const byRound = new Map<string, Measurement>()
  for (const m of measurements) byRound.set(`${m.variant}#${m.round}`, m)
  const ratioTo = (variant: string, base: string, of: (m: Measurement) => number = (m) => m.rps) => {
    const out: Array<number> = []
    for (let round = 0; round < options.rounds; round++) {
      const m = byRound.get(`${variant}#${round}`)
      const b = byRound.get(`${base}#${round}`)
      if (m !== undefined && b !== undefined) out.push(of(m) / of(b))
    }
    return out
  }
  const ratioText = (ratios: ReadonlyArray<number>): string =>
    ratios.length === 0
      ? "–"
      : ratios.length === 1
      ? fmt(ratios[0]!, 2)
      : `${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`
  const lines = [
    "| set-up | req/s | of bare | p50 | p99 | CPU/request | of bare, by CPU | peak RSS |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ]
  for (const variant of chosen) {
    const own = measurements.filter((m) => m.variant === variant.id)
    if (own.length === 0) continue
    const base = variant.realistic ? "bare-real" : "bare"
    const ratio = ratioText(ratioTo(variant.id, base))
    // Throughput the server's own CPU time allows, against the bare app's: insensitive to other load.
    const cpuRatio = ratioText(ratioTo(variant.id, base, (m) => 1 / m.cpuUsPerRequest))
    lines.push(
      `| ${variant.label} | ${fmt(median(own.map((m) => m.rps)))} | ${ratio} | ${
        fmt(median(own.map((m) => m.p50Ms)), 2)
      } ms | ${fmt(median(own.map((m) => m.p99Ms)), 2)} ms | ${
        fmt(median(own.map((m) => m.cpuUsPerRequest)), 1)
      } µs | ${cpuRatio} | ${fmt(median(own.map((m) => m.peakRssBytes)) / 2 ** 20)} MB |`,
    )
  }
  console.log(lines.join("\n"))

  // The OTLP set-ups' spans in the measured windows (summed over rounds): a figure for "every request
  // exported" means nothing if the exporter dropped part of the spans to keep up.
  const spanLines = [
    "| set-up | requests | spans produced (per request) | exported | received by the sink | spans dropped |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
  ]
  const droppedShare = new Map<string, number>()
  for (const variant of chosen) {
    const own = measurements.filter((m) => m.variant === variant.id && m.spans !== undefined)
    if (own.length === 0) continue
    const sum = (of: (m: Measurement) => number) => own.reduce((a, m) => a + of(m), 0)
    const requests = sum((m) => m.requests)
    const produced = sum((m) => m.spans!.produced)
    const dropped: Record<string, number> = {}
    for (const m of own) {
      for (const [reason, n] of Object.entries(m.spans!.dropped)) dropped[reason] = (dropped[reason] ?? 0) + n
    }
    const total = droppedTotal(dropped)
    droppedShare.set(variant.id, produced > 0 ? total / produced : 0)
    const reasons = Object.entries(dropped).map(([reason, n]) => `${fmt(n)} ${reason}`).join(", ")
    spanLines.push(
      `| ${variant.label} | ${fmt(requests)} | ${fmt(produced)} (${fmt(produced / requests, 2)}) | ${
        fmt(sum((m) => m.spans!.exported))
      } | ${fmt(sum((m) => m.spans!.received))} | ${
        total === 0 ? "0" : `**${fmt(total)} (${fmt(total / produced * 100, 1)}%)**: ${reasons}`
      } |`,
    )
  }
  if (spanLines.length > 2) {
    console.log(
      "\nSpans of the OTLP set-ups in the measured windows (stagetrace's own export counters; the sink's " +
        "count of the spans it decoded):\n",
    )
    console.log(spanLines.join("\n"))
  }

  // Targets of the end-to-end issue, each from per-round ratios.
  const checks: Array<string> = []
  const target = (variant: string, min: number, what: string) => {
    const ratios = ratioTo(variant, "bare")
    if (ratios.length === 0) return
    const value = median(ratios)
    const byCpu = median(ratioTo(variant, "bare", (m) => 1 / m.cpuUsPerRequest))
    // A figure reached by dropping spans is not a figure for exporting them.
    const lost = droppedShare.get(variant) ?? 0
    checks.push(
      `${lost > 0 ? "LOSS" : value >= min ? "ok  " : "MISS"} ${what}: ${
        fmt(value, 2)
      } of bare (target ≥ ${min}; by CPU ${fmt(byCpu, 2)})${
        lost > 0 ? `, not valid: ${fmt(lost * 100, 1)}% of its spans dropped` : ""
      }`,
    )
  }
  target("core", 0.6, "stagetrace core")
  target("mw-otlp10", 0.5, "middleware + metrics + OTLP at 10%")
  target("mw-otlp100", 0.35, "middleware + OTLP of every request")
  const realRatios = ratioTo("mw-otlp10-real", "bare-real")
  if (realRatios.length > 0) {
    const deltas: Array<number> = []
    for (let round = 0; round < options.rounds; round++) {
      const m = byRound.get(`mw-otlp10-real#${round}`)
      const b = byRound.get(`bare-real#${round}`)
      if (m !== undefined && b !== undefined) deltas.push(m.p99Ms - b.p99Ms)
    }
    const ratio = median(realRatios)
    const delta = median(deltas)
    checks.push(
      `${ratio >= 0.97 ? "ok  " : "MISS"} realistic app throughput: ${fmt(ratio, 3)} of bare (≥ 0.97)`,
    )
    checks.push(
      `${delta <= 1 ? "ok  " : "MISS"} realistic app p99: ${delta >= 0 ? "+" : ""}${
        fmt(delta, 2)
      } ms (≤ +1 ms)`,
    )
  }
  if (checks.length > 0) console.log(`\n${checks.join("\n")}`)
}

// ---------------------------------------------------------------------------------------------------------
// Soak: heap and RSS over many requests
// ---------------------------------------------------------------------------------------------------------

interface MemorySample {
  readonly requests: number
  readonly heapUsed: number
  readonly rss: number
}

const soakOnce = async (variant: Variant, sinkUrl: string, label: string): Promise<Array<MemorySample>> => {
  const server = await startServer(variant, sinkUrl, ["--soak"], ["--v8-flags=--expose-gc"])
  try {
    const url = `http://127.0.0.1:${server.port}/`
    await checkServes(url)
    const samples: Array<MemorySample> = []
    let requests = 0
    const chunk = 10
    while (requests < options.soakRequests) {
      const result = await wrk(url, options.connections, chunk)
      requests += result.requests
      const memory = await (await fetch(`${url}__mem`)).json() as { heapUsed: number; rss: number }
      samples.push({
        requests,
        heapUsed: memory.heapUsed,
        rss: await statusBytes(server.process.pid, "VmRSS"),
      })
      console.error(
        `  ${label}: ${fmt(requests)} requests, heap ${fmt(memory.heapUsed / 2 ** 20, 1)} MB, RSS ${
          fmt(samples.at(-1)!.rss / 2 ** 20, 1)
        } MB`,
      )
    }
    return samples
  } finally {
    await server.stop()
  }
}

const reportSoak = (label: string, samples: ReadonlyArray<MemorySample>): boolean => {
  // The first sample past 10% of the requests is the baseline (the JIT and the pools are warm by then).
  const base = samples.find((s) => s.requests >= options.soakRequests * 0.1) ?? samples[0]!
  const last = samples.at(-1)!
  const after = samples.slice(samples.indexOf(base))
  const maxHeap = Math.max(...after.map((s) => s.heapUsed))
  const maxRss = Math.max(...after.map((s) => s.rss))
  const heapGrowth = last.heapUsed / base.heapUsed - 1
  const rssGrowth = last.rss / base.rss - 1
  const ok = heapGrowth <= 0.1 && rssGrowth <= 0.1
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${fmt(x * 100, 1)}%`
  const mb = (x: number) => `${fmt(x / 2 ** 20, 1)} MB`
  console.log(
    `| ${label} | ${fmt(last.requests)} | ${mb(base.heapUsed)} → ${mb(last.heapUsed)} (max ${
      mb(maxHeap)
    }) | ${pct(heapGrowth)} | ${mb(base.rss)} → ${mb(last.rss)} (max ${mb(maxRss)}) | ${pct(rssGrowth)} | ${
      ok ? "ok" : "MISS"
    } |`,
  )
  return ok
}

// ---------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------

await ensureWrk()
const started = performance.now()
const sink = await startListening(1, ["run", "-A", sinkPath], {})
const sinkUrl = `http://127.0.0.1:${sink.port}`
const deno = Deno.version
console.log(
  `Deno ${deno.deno} (V8 ${deno.v8}), ${cores} cores${
    pinned ? ", server on CPU 0, wrk and the sink on CPU 1" : " (not pinned)"
  }`,
)

try {
  if (options.soak) {
    const variant = variants.find((v) => v.id === options.soakVariant)
    if (variant === undefined) throw new Error(`Unknown --soak-variant ${options.soakVariant}`)
    // A dead collector: a port that was just free and that nothing listens on.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 })
    const deadUrl = `http://127.0.0.1:${(probe.addr as Deno.NetAddr).port}`
    probe.close()
    console.log(
      `\nSoak: \`${variant.id}\` over ${fmt(options.soakRequests)} requests (heap after a full GC)\n`,
    )
    const dead = await soakOnce(variant, deadUrl, "dead collector")
    const live = await soakOnce(variant, sinkUrl, "live collector")
    console.log(
      "| collector | requests | heap (baseline → end) | heap growth | RSS (baseline → end) | RSS growth | flat |",
    )
    console.log("| --- | ---: | --- | ---: | --- | ---: | --- |")
    reportSoak("dead", dead)
    reportSoak("live", live)
    if (options.json !== undefined) {
      await Deno.writeTextFile(options.json, JSON.stringify({ dead, live }, null, 2))
    }
  } else {
    const only = options.only
    // The bare app of each kind is always measured: every ratio is taken against it.
    const chosen = only === undefined ? variants : variants.filter((v) =>
      only.includes(v.id) ||
      (v.id === "bare" && variants.some((o) => !o.realistic && only.includes(o.id))) ||
      (v.id === "bare-real" && variants.some((o) => o.realistic && only.includes(o.id)))
    )
    const measurements: Array<Measurement> = []
    const notices = new Set<string>()
    for (let round = 0; round < options.rounds; round++) {
      // Rotate the order every round so no set-up always runs first or after the same neighbour.
      const order = chosen.map((_, i) => chosen[(i + round) % chosen.length]!)
      for (const variant of order) {
        const { measurement, stderr } = await measureOnce(variant, round, sinkUrl)
        measurements.push(measurement)
        for (const line of stderr.split("\n")) {
          if (line.trim() !== "") notices.add(`${variant.id}: ${line.trim()}`)
        }
        console.error(
          `round ${round + 1}/${options.rounds} ${variant.id}: ${fmt(measurement.rps)} req/s, p99 ${
            fmt(measurement.p99Ms, 2)
          } ms${measurement.errors > 0 ? `, ${measurement.errors} errors` : ""}`,
        )
      }
    }
    console.log(
      `\nwrk -t1 -c${options.connections} (realistic app: -c${options.realConnections}), ${options.warmup} s warm-up + ${options.duration} s per set-up, ${options.rounds} rounds; medians, ratio range over rounds in parentheses\n`,
    )
    printTable(measurements, chosen)
    const exported = await (await fetch(`${sinkUrl}/stats`)).json() as Record<
      string,
      { requests: number; bytes: number; spans: number }
    >
    const traces = exported["/v1/traces"]
    console.log(
      `\nOTLP sink received ${fmt(traces?.requests ?? 0)} trace exports, ${fmt(traces?.spans ?? 0)} spans (${
        fmt((traces?.bytes ?? 0) / 2 ** 20, 1)
      } MB), shutdown flushes included`,
    )
    if (notices.size > 0) console.log(`\nServer stderr:\n${[...notices].map((n) => `  ${n}`).join("\n")}`)
    if (options.json !== undefined) {
      await Deno.writeTextFile(options.json, JSON.stringify({ options, measurements }, null, 2))
    }
  }
} finally {
  await sink.stop()
}
console.log(`\n(${fmt((performance.now() - started) / 1000)} s)`)
