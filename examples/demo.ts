/**
 * The stagetrace demo: a simulated chat/RAG service (auth → routing → cache → knowledge base → LLM →
 * formatting) serving a few hundred concurrent requests with random latencies and some failures, then
 * printing what stagetrace saw: the waterfall of the slowest and of a failed request, per-stage
 * statistics, the bottlenecks, budget violations, errors by category, alerts, and the service's own
 * `/metrics` and `/health` endpoints.
 *
 * Telemetry leaves the process the way it would in production: 10% of requests are head-sampled (consistent
 * `ot=th` thresholds), and every failed, over-budget or slow request is kept by the in-process tail sampler;
 * kept requests are appended to `./logs/performance/*.jsonl` (turn them into an HTML report with
 * `deno task report logs/performance`), printed by the console exporter (those over 800 ms; `--console` for
 * all), and exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * Run it with `deno task demo` (optionally `--seed 42 --requests 500`, `--console` to print every kept
 * request's waterfall, and `--serve` to keep `/chat`, `/metrics`, `/health` and the live dashboard running
 * until Ctrl-C). It prints the dashboard's URL first. No collector is needed. The same seed gives the same workload.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import {
  Alerts,
  Budgets,
  Dashboard,
  Errors,
  Exporter,
  Health,
  Http,
  Prometheus,
  Request,
  Sampler,
  Stage,
  StageStats,
  Summaries,
  Telemetry,
} from "../mod.ts"
type RequestSummary = Request.RequestSummary

// ---------------------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------------------

const flag = (name: string, fallback: number): number => {
  const i = Deno.args.indexOf(`--${name}`)
  const value = i >= 0 ? Number(Deno.args[i + 1]) : Number.NaN
  return Number.isFinite(value) ? value : fallback
}
const seed = flag("seed", 7)
const requestCount = flag("requests", 300)
const port = flag("port", 0)
const keepServing = Deno.args.includes("--serve")
const dashboardPort = flag("dashboard-port", 9465)
const printKept = Deno.args.includes("--console")
const jsonlDir = "./logs/performance"

/** mulberry32: a small seedable generator, so the same seed plans the same workload. */
const random = (state: number) => () => {
  state = (state + 0x6d2b79f5) | 0
  let t = Math.imul(state ^ (state >>> 15), 1 | state)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const rng = random(seed)
/** A log-normal latency in milliseconds around `median` (right-skewed, like real latencies). */
const latency = (median: number, spread = 0.5) =>
  Math.max(
    0.2,
    median * Math.exp(spread * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())),
  )

class RateLimited
  extends Data.TaggedError("RateLimited")<{ readonly message: string; readonly status: number }> {}
class KbTimeout extends Data.TaggedError("KbTimeout")<{ readonly message: string }> {}
class InvalidPrompt extends Data.TaggedError("InvalidPrompt")<{ readonly message: string }> {}

/** Everything random about one request, drawn up front so concurrency cannot change the plan. */
interface Plan {
  readonly id: string
  /** When the request arrives, in milliseconds after the start (requests arrive over about a second). */
  readonly arrivalMs: number
  readonly route: "chat" | "search"
  readonly model: "small" | "large"
  readonly cacheHit: boolean
  readonly ms: Readonly<Record<string, number>>
  readonly failure: "none" | "rate_limited" | "kb_timeout" | "invalid_prompt"
}

const plan = (i: number): Plan => {
  const model = rng() < 0.3 ? "large" : "small"
  const failureDraw = rng()
  return {
    id: `req-${String(i).padStart(4, "0")}`,
    arrivalMs: i * (1000 / requestCount) * (0.5 + rng()),
    route: rng() < 0.8 ? "chat" : "search",
    model,
    cacheHit: rng() < 0.35,
    ms: {
      auth_check: latency(2),
      routing_analysis: latency(4),
      redis_cache: latency(1.5),
      kb_embed: latency(15),
      kb_search: latency(40, 0.7),
      kb_rerank: latency(12),
      llm_request: latency(model === "large" ? 260 : 120, 0.6),
      response_formatting: latency(3),
    },
    failure: failureDraw < 0.04
      ? "rate_limited"
      : failureDraw < 0.06
      ? "kb_timeout"
      : failureDraw < 0.07
      ? "invalid_prompt"
      : "none",
  }
}

const pause = (ms: number) => Effect.sleep(`${ms} millis`)

/** One request through the pipeline. */
const handle = (p: Plan) =>
  Effect.gen(function* () {
    yield* pause(p.ms.auth_check!).pipe(Stage.track("auth_check"))
    if (p.failure === "invalid_prompt") {
      yield* Effect.fail(new InvalidPrompt({ message: "prompt failed validation" })).pipe(
        Stage.track("routing_analysis"),
      )
    }
    yield* pause(p.ms.routing_analysis!).pipe(
      Stage.track("routing_analysis", { metadata: { route: p.route } }),
    )
    yield* pause(p.ms.redis_cache!).pipe(Stage.track("redis_cache", { metadata: { hit: p.cacheHit } }))
    if (!p.cacheHit) {
      yield* Effect.gen(function* () {
        yield* pause(p.ms.kb_embed!).pipe(Stage.track("kb_embed"))
        yield* pause(p.ms.kb_search!).pipe(
          Effect.andThen(
            p.failure === "kb_timeout"
              ? Effect.fail(new KbTimeout({ message: "knowledge base timed out" }))
              : Effect.void,
          ),
          Stage.track("kb_search"),
        )
        yield* pause(p.ms.kb_rerank!).pipe(Stage.track("kb_rerank"))
      }).pipe(Stage.track("kb_access", { name: "Knowledge base" }))
    }
    yield* pause(p.ms.llm_request!).pipe(
      Effect.andThen(
        p.failure === "rate_limited"
          ? Effect.fail(new RateLimited({ message: "LLM rate limit exceeded", status: 429 }))
          : Effect.void,
      ),
      Stage.track("llm_request", { metadata: { model: p.model } }),
    )
    yield* pause(p.ms.response_formatting!).pipe(Stage.track("response_formatting"))
  }).pipe(
    Request.track("chat", {
      requestId: p.id,
      attributes: { route: p.route, model: p.model, cache: p.cacheHit ? "hit" : "miss" },
    }),
  )

// ---------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------

const pad = (value: string | number, width: number) => String(value).padStart(width)
const ms = (value: number) => value.toFixed(1)

const printStats = (stats: ReadonlyArray<StageStats.StageStatistics>) => {
  console.log(
    `${"stage".padEnd(22)}${pad("count", 7)}${pad("ok %", 8)}${pad("mean", 9)}${pad("p50", 9)}${
      pad("p95", 9)
    }${pad("p99", 9)}${pad("max", 9)}   (ms)`,
  )
  for (const s of stats) {
    console.log(
      `${s.stageId.padEnd(22)}${pad(s.count, 7)}${pad((s.successRate * 100).toFixed(1), 8)}${
        pad(ms(s.meanMs), 9)
      }${pad(ms(s.p50Ms), 9)}${pad(ms(s.p95Ms), 9)}${pad(ms(s.p99Ms), 9)}${pad(ms(s.maxMs), 9)}`,
    )
  }
}

const printBottlenecks = (summaries: ReadonlyArray<RequestSummary>) => {
  const counts = new Map<string, { count: number; share: number }>()
  for (const summary of summaries) {
    for (const b of summary.bottlenecks) {
      const entry = counts.get(b.stageId) ?? { count: 0, share: 0 }
      entry.count++
      entry.share += b.share
      counts.set(b.stageId, entry)
    }
  }
  const ranked = [...counts].sort((a, b) => b[1].count - a[1].count)
  for (const [stageId, { count, share }] of ranked) {
    console.log(
      `  ${stageId.padEnd(22)} bottleneck in ${pad(count, 4)} of ${summaries.length} requests` +
        `  (avg ${(share / count * 100).toFixed(0)}% of the request)`,
    )
  }
}

const program = Effect.gen(function* () {
  const plans = Array.from({ length: requestCount }, (_, i) => plan(i))
  console.log(`stagetrace demo — ${requestCount} chat requests arriving over about a second, seed ${seed}\n`)
  console.log(
    `Exporter.console prints ${printKept ? "every kept request" : "requests over 800 ms"} as they finish:\n`,
  )
  const started = performance.now()
  const exits = yield* Effect.all(
    plans.map((p) => Effect.exit(Effect.andThen(pause(p.arrivalMs), handle(p)))),
    { concurrency: "unbounded" },
  )
  const elapsed = performance.now() - started
  const failed = exits.filter((e) => e._tag === "Failure").length

  const summaries = yield* Summaries.recent(requestCount)
  const slowest = [...summaries].sort((a, b) => b.durationMs - a.durationMs)[0]
  const firstFailure = summaries.filter((s) => !s.success).sort((a, b) => b.stageCount - a.stageCount)[0]
  const colors = Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined

  console.log(`served ${requestCount} requests in ${(elapsed / 1000).toFixed(2)} s, ${failed} failed\n`)
  if (slowest) console.log(`Slowest request\n${Summaries.waterfall(slowest, { colors })}\n`)
  if (firstFailure) console.log(`A failed request\n${Summaries.waterfall(firstFailure, { colors })}\n`)
  console.log("Per-stage statistics (every request, DDSketch quantiles within 1%)")
  printStats(yield* StageStats.all)
  console.log("\nBottlenecks (stages taking at least 30% of their request)")
  printBottlenecks(summaries)

  const headSampled = summaries.filter((s) => s.sampled).length
  const kept = summaries.filter((s) => s.keptBecause !== undefined)
  const reasons = new Map<string, number>()
  for (const s of kept) reasons.set(s.keptBecause!, (reasons.get(s.keptBecause!) ?? 0) + 1)
  const failedKept = summaries.filter((s) => !s.success).every((s) => s.keptBecause !== undefined)
  const slowKept = summaries.filter((s) => s.durationMs >= 800).every((s) => s.keptBecause !== undefined)
  console.log(
    `\nSampling: ${headSampled} of ${summaries.length} head-sampled at 10%; ${kept.length} exported ` +
      `(${[...reasons].map(([r, n]) => `${r} ${n}`).join(", ")})`,
  )
  console.log(
    `  every failed request kept: ${failedKept ? "yes" : "NO"}; every request over 800 ms kept: ${
      slowKept ? "yes" : "NO"
    }; statistics above saw all ${summaries.length}`,
  )

  const budgets = yield* Budgets.summary({ window: "1 hour" })
  console.log(`\nBudgets: ${budgets.status}, ${budgets.totalViolations} violations`)
  for (const [stageId, b] of Object.entries(budgets.byStage)) {
    console.log(
      `  ${stageId.padEnd(22)} ${pad(b.count, 4)} over budget, avg +${ms(b.avgOverageMs)} ms ` +
        `(+${b.avgOveragePercent.toFixed(0)}%), max +${ms(b.maxOverageMs)} ms`,
    )
  }
  const errors = yield* Errors.summary({ window: "1 hour" })
  console.log(
    `\nErrors by category: ${
      Object.entries(errors.byCategory).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`).join(", ")
    }`,
  )
  for (const alert of yield* Alerts.recent) {
    if (!("category" in alert)) continue // latency anomalies are shown on the dashboard
    console.log(
      `  ALERT ${alert.category} errors in ${alert.stageId}: ${alert.count} in ${
        alert.windowMs / 60_000
      } min ` +
        `(threshold ${alert.threshold})`,
    )
  }
})

/** `/chat` (one more simulated request), `/metrics` and `/health` on one loopback port. */
const serveEndpoints = Effect.gen(function* () {
  const metrics = yield* Prometheus.handler()
  const health = yield* Health.handler
  const chat = yield* Http.toHandler(() =>
    Effect.map(
      Effect.exit(handle(plan(Math.floor(rng() * 1e6)))),
      (exit) =>
        exit._tag === "Success" ? Response.json({ ok: true }) : Response.json({ ok: false }, { status: 502 }),
    )
  )
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname
    return path === "/metrics" ? metrics(request) : path === "/health" ? health(request) : chat(request)
  })
  yield* Effect.addFinalizer(() => Effect.promise(() => server.shutdown()))
  return `http://127.0.0.1:${server.addr.port}`
})

const showEndpoints = (base: string) =>
  Effect.gen(function* () {
    const scrape = yield* Effect.promise(() => fetch(`${base}/metrics`).then((r) => r.text()))
    const wanted = /^(stagetrace_requests_total|stagetrace_budget_violations_total|stagetrace_errors_total)\{/
    console.log(`\nGET ${base}/metrics (Prometheus text format, excerpt)`)
    for (const line of scrape.split("\n").filter((l) => wanted.test(l)).slice(0, 8)) console.log(`  ${line}`)
    const health = yield* Effect.promise(() => fetch(`${base}/health`).then((r) => r.json()))
    console.log(
      `GET ${base}/health → ${health.status} (${
        Object.entries(health.checks as Record<string, { status: string }>).map(([k, v]) =>
          `${k} ${v.status}`
        )
          .join(", ")
      })`,
    )
  })

const main = Effect.gen(function* () {
  const base = yield* serveEndpoints
  console.log(`Live dashboard: ${(yield* Dashboard.serverAddress)?.url} (served while the demo runs)\n`)
  yield* program
  yield* showEndpoints(base)
  console.log(`\nKept requests are appended to ${jsonlDir}/; turn them into a report with:`)
  console.log(`  deno task report ${jsonlDir}`)
  if (keepServing) {
    console.log(`\nServing ${base}/chat, ${base}/metrics and ${base}/health — Ctrl-C to stop`)
    console.log(
      `Dashboard: ${
        (yield* Dashboard.serverAddress)?.url
      } (a few simulated requests a second keep it moving)`,
    )
    let next = requestCount
    yield* Effect.forever(
      Effect.suspend(() =>
        Effect.andThen(pause(100 + rng() * 300), Effect.forkChild(Effect.exit(handle(plan(next++)))))
      ),
    )
  }
})

const TelemetryLive = Telemetry.layerFromEnv({
  serviceName: "chat-demo",
  environment: "demo",
  // Export 10% of requests (consistent with every OpenTelemetry service in the trace), plus every failed,
  // over-budget or slow one. Statistics, metrics, budgets and errors still see every request.
  sampler: Sampler.parentBased(Sampler.consistentRatio(0.1)),
  keepSlowerThan: "800 millis",
  // Where kept requests go; OTLP is added when OTEL_EXPORTER_OTLP_ENDPOINT is set.
  exporters: [
    Exporter.jsonl({ dir: jsonlDir, retentionDays: 7 }),
    // The console exporter prints the waterfall of kept requests: by default only those over 800 ms.
    Exporter.console({ width: 40, filter: printKept ? undefined : (summary) => summary.durationMs >= 800 }),
  ],
  // Latency budgets by stage id or request name.
  budgets: {
    auth_check: "10 millis",
    kb_access: "150 millis",
    llm_request: "400 millis",
    chat: "600 millis",
  },
  // Typed errors classified by tag; a tag outside the union would not compile.
  errorRules: Errors.rules<RateLimited | KbTimeout | InvalidPrompt>({
    tags: { RateLimited: "transient", KbTimeout: "transient", InvalidPrompt: "data" },
  }),
  // Alerts are printed at the end instead of being logged as they fire.
  alerts: { thresholds: { transient: 8 }, onAlert: () => Effect.void },
  health: { memoryWarningPercent: 95, memoryCriticalPercent: 99 },
  // The live dashboard on http://127.0.0.1:9465/dashboard/ (--dashboard-port to move it).
  dashboard: { port: dashboardPort },
})

// Budget warnings and alert errors are logged through Effect's Logger; the demo prints summaries instead.
const QuietLogs = Layer.succeed(References.MinimumLogLevel, "None")

// `runMain` turns SIGINT/SIGTERM into interruption, so open spans end and queued telemetry is flushed.
const exit = await Telemetry.runMain(
  main.pipe(Effect.scoped, Effect.provide(TelemetryLive), Effect.provide(QuietLogs)),
)
if (exit._tag === "Failure") console.error(String(exit.cause))
