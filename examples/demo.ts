/**
 * The stagetrace demo: a chat/RAG service written the way an Effect user writes it — `HttpRouter` routes
 * served by `Deno.serve`, `HttpClient` calls to a knowledge-base service (a second `HttpRouter` app),
 * `EmbeddingModel` and `LanguageModel` from a simulated provider with a price table — serving a few hundred
 * concurrent requests with random latencies and some failures. The program has no stagetrace wrapper on
 * the server, the HTTP calls or the model calls: `Telemetry.layer` adopts the spans Effect's own modules
 * open (the server span becomes the request, the calls its stages, with token and cost metrics). A few
 * steps of its own are `Stage.track`s.
 *
 * It then prints what stagetrace saw: the waterfall of the slowest and of a failed request, per-stage
 * statistics, the bottlenecks, sampling, budget violations, errors by category, the token and cost metrics
 * and the service's own `/metrics` and `/health`.
 *
 * Telemetry leaves the process the way it would in production: 10% of requests are head-sampled
 * (consistent `ot=th` thresholds), and every failed, over-budget or slow request is kept by the in-process
 * tail sampler; kept requests are appended to `./logs/performance/*.jsonl` (an HTML report:
 * `deno task report logs/performance`), printed by the console exporter (those over 800 ms; `--console`
 * for all), and exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * It prints the URL of the live dashboard first (`--dashboard-port` moves it): open it while the demo runs.
 *
 * Run it with `deno task demo` (optionally `--seed 42 --requests 500`, `--console`, and `--serve` to keep
 * the service and the dashboard running, with a few simulated requests a second, until Ctrl-C). No collector and no database are needed (see `examples/postgres.ts`
 * for the PostgreSQL variant). The same seed gives the same workload.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import { AiError, EmbeddingModel, LanguageModel, Model, Telemetry as AiTelemetry } from "effect/ai"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import {
  Alerts,
  Budgets,
  Dashboard,
  Errors,
  Exporter,
  Health,
  Prometheus,
  type Request,
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

class InvalidPrompt extends Data.TaggedError("InvalidPrompt")<{ readonly message: string }> {}
class KbUnavailable
  extends Data.TaggedError("KbUnavailable")<{ readonly message: string; readonly status: number }> {}

/** Everything random about one request, drawn up front so concurrency cannot change the plan. */
interface Plan {
  readonly index: number
  readonly id: string
  /** When the request arrives, in milliseconds after the start (requests arrive over about three seconds). */
  readonly arrivalMs: number
  readonly model: "sim-large" | "sim-small"
  readonly cacheHit: boolean
  readonly ms: Readonly<Record<string, number>>
  readonly promptTokens: number
  readonly completionTokens: number
  readonly failure: "none" | "rate_limited" | "kb_timeout" | "invalid_prompt"
}

const plan = (i: number): Plan => {
  const model = rng() < 0.3 ? "sim-large" : "sim-small"
  const failureDraw = rng()
  return {
    index: i,
    id: `req-${String(i).padStart(4, "0")}`,
    arrivalMs: i * (3000 / requestCount) * (0.5 + rng()),
    model,
    cacheHit: rng() < 0.35,
    ms: {
      auth_check: latency(2),
      routing_analysis: latency(4),
      redis_cache: latency(1.5),
      embed: latency(15),
      kb_search: latency(40, 0.7),
      llm: latency(model === "sim-large" ? 260 : 120, 0.6),
      response_formatting: latency(3),
    },
    promptTokens: Math.round(300 + rng() * 900),
    completionTokens: Math.round(80 + rng() * 400),
    failure: failureDraw < 0.04
      ? "rate_limited"
      : failureDraw < 0.06
      ? "kb_timeout"
      : failureDraw < 0.07
      ? "invalid_prompt"
      : "none",
  }
}
const plans = Array.from({ length: requestCount }, (_, i) => plan(i))

const pause = (ms: number) => Effect.sleep(`${ms} millis`)

// ---------------------------------------------------------------------------------------------------------
// A simulated model provider, built with effect/ai's own constructors
// ---------------------------------------------------------------------------------------------------------

/** The plan of the request being served, read by the simulated provider. */
const CurrentPlan = Context.Reference<Plan | undefined>("demo/CurrentPlan", { defaultValue: () => undefined })

const withPlan = <A, E>(f: (plan: Plan) => Effect.Effect<A, E>) =>
  Effect.withFiber((fiber) => f(fiber.getRef(CurrentPlan) ?? plans[0]!))

/** Answers after the planned latency with the planned token usage, annotating its span like real providers. */
const simulatedProvider = (model: Plan["model"]) =>
  LanguageModel.make({
    generateText: (request) =>
      withPlan((p) => {
        AiTelemetry.addGenAIAnnotations(request.span, {
          provider: { name: "simulated" },
          operation: { name: "chat" },
          request: { model },
        })
        if (p.failure === "rate_limited") {
          return Effect.andThen(
            pause(p.ms.llm! / 4),
            Effect.fail(
              AiError.make({
                module: "Simulated",
                method: "generateText",
                reason: new AiError.RateLimitError({}),
              }),
            ),
          )
        }
        AiTelemetry.addGenAIAnnotations(request.span, {
          usage: { inputTokens: p.promptTokens, outputTokens: p.completionTokens },
        })
        return Effect.as(pause(p.ms.llm!), [
          { type: "text", text: `Refunds take 5 business days (${p.id}).` },
          {
            type: "finish",
            reason: "stop",
            usage: {
              inputTokens: {
                uncached: undefined,
                total: p.promptTokens,
                cacheRead: undefined,
                cacheWrite: undefined,
              },
              outputTokens: { total: p.completionTokens, text: undefined, reasoning: undefined },
            },
          },
        ] as Array<never>)
      }),
    streamText: () => Stream.empty,
  })

const simulatedEmbeddings = EmbeddingModel.make({
  embedMany: (request) =>
    withPlan((p) =>
      Effect.as(pause(p.ms.embed!), {
        results: request.inputs.map((input) => [input.length, 0.5, 0.25]),
        usage: { inputTokens: request.inputs.length * 12 },
      })
    ),
})

const modelLayer = (model: Plan["model"]) =>
  Model.make(
    "simulated",
    model,
    Layer.merge(
      Layer.effect(LanguageModel.LanguageModel, simulatedProvider(model)),
      Layer.effect(EmbeddingModel.EmbeddingModel, simulatedEmbeddings),
    ),
  )
type ModelServices = Layer.Success<ReturnType<typeof modelLayer>>
/** Both models, built once in `main` (a `Model.make` layer provided per request would rebuild it each time). */
const models = new Map<Plan["model"], Context.Context<ModelServices>>()

// ---------------------------------------------------------------------------------------------------------
// The knowledge-base service and the chat service
// ---------------------------------------------------------------------------------------------------------

/** `GET /search?q=…&plan=…`: documents after the planned latency, or 504 when the plan says so. */
const KnowledgeBase = HttpRouter.add(
  "GET",
  "/search",
  Effect.gen(function* () {
    const p = planOf(yield* HttpServerRequest.HttpServerRequest)
    yield* pause(p.ms.kb_search!)
    return p.failure === "kb_timeout"
      ? HttpServerResponse.text("search timed out", { status: 504 })
      : HttpServerResponse.text("refund-policy.md shipping.md")
  }),
)

/** The plan a request names in its `plan` query parameter. */
const planOf = (request: HttpServerRequest.HttpServerRequest): Plan =>
  plans[Number(new URL(request.url, "http://local").searchParams.get("plan"))] ?? plans[0]!

/** The RAG pipeline of one chat request. */
const pipeline = (p: Plan, kbUrl: string) =>
  Effect.gen(function* () {
    yield* pause(p.ms.auth_check!).pipe(Stage.track("auth_check"))
    if (p.failure === "invalid_prompt") {
      yield* Effect.fail(new InvalidPrompt({ message: "prompt failed validation" })).pipe(
        Stage.track("routing_analysis"),
      )
    }
    yield* pause(p.ms.routing_analysis!).pipe(Stage.track("routing_analysis"))
    yield* pause(p.ms.redis_cache!).pipe(Stage.track("redis_cache", { metadata: { hit: p.cacheHit } }))
    let context = "cached"
    if (!p.cacheHit) {
      context = yield* Effect.gen(function* () {
        const embeddings = yield* EmbeddingModel.EmbeddingModel
        yield* embeddings.embed("how long do refunds take?")
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get(`${kbUrl}/search?q=refunds&plan=${p.index}`)
        if (response.status !== 200) {
          return yield* Effect.fail(new KbUnavailable({ message: "knowledge base unavailable", status: 503 }))
        }
        return yield* response.text
      }).pipe(Stage.track("kb_access", { name: "Knowledge base" }))
    }
    const answer = yield* LanguageModel.generateText({
      prompt: `Context: ${context}. How long do refunds take?`,
    })
    const body = yield* pause(p.ms.response_formatting!).pipe(
      Effect.as(JSON.stringify({ answer: answer.text })),
      Stage.track("response_formatting"),
    )
    return HttpServerResponse.text(body, { contentType: "application/json" })
  }).pipe(
    Effect.provideContext(models.get(p.model)!),
    Effect.provideService(CurrentPlan, p),
  )

/** `GET /chat/:conversation?plan=…`. */
const chat = (kbUrl: string) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => pipeline(planOf(request), kbUrl))

// ---------------------------------------------------------------------------------------------------------
// Telemetry
// ---------------------------------------------------------------------------------------------------------

let kbPort = 0

const TelemetryLive = Telemetry.layerFromEnv({
  serviceName: "chat-demo",
  environment: "demo",
  // Export 10% of requests (consistent with every OpenTelemetry service in the trace), plus every failed,
  // over-budget or slow one. Statistics, metrics, budgets and errors still see every request.
  sampler: Sampler.parentBased(Sampler.consistentRatio(0.1)),
  keepSlowerThan: "800 millis",
  exporters: [
    Exporter.jsonl({ dir: jsonlDir, retentionDays: 7 }),
    // The console exporter prints the waterfall of kept requests: by default only those over 800 ms.
    Exporter.console({ width: 40, filter: printKept ? undefined : (summary) => summary.durationMs >= 800 }),
  ],
  // Effect's own modules: the knowledge-base call gets a name of its own, the models a price table
  // (US dollars per 1,000 tokens).
  instrument: {
    httpClient: { stageId: (call) => call.port === kbPort ? "kb_search" : undefined },
    ai: {
      prices: {
        "sim-large": { inputPer1k: 0.03, outputPer1k: 0.06 },
        "sim-small": { inputPer1k: 0.0005, outputPer1k: 0.0015 },
      },
    },
  },
  // Latency budgets by stage id or request name (adopted requests are named after their route).
  budgets: {
    auth_check: "10 millis",
    kb_access: "150 millis",
    "llm.generateText sim-large": "500 millis",
    "llm.generateText sim-small": "300 millis",
    "GET /chat/:conversation": "600 millis",
  },
  // Typed errors classified by tag; the model's rate limit is recognized by its reason.
  errorRules: Errors.rules<InvalidPrompt | KbUnavailable>({
    tags: { InvalidPrompt: "data", KbUnavailable: "transient" },
  }),
  // Alerts are printed at the end instead of being logged as they fire.
  alerts: { thresholds: { transient: 8 }, onAlert: () => Effect.void },
  health: { memoryWarningPercent: 95, memoryCriticalPercent: 99 },
  // The live dashboard on http://127.0.0.1:9465/dashboard/ (--dashboard-port to move it).
  dashboard: { port: dashboardPort },
})

// ---------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------

const pad = (value: string | number, width: number) => String(value).padStart(width)
const ms = (value: number) => value.toFixed(1)

const printStats = (stats: ReadonlyArray<StageStats.StageStatistics>) => {
  console.log(
    `${"stage".padEnd(30)}${pad("count", 7)}${pad("ok %", 8)}${pad("mean", 9)}${pad("p50", 9)}${
      pad("p95", 9)
    }${pad("p99", 9)}${pad("max", 9)}   (ms)`,
  )
  for (const s of stats) {
    console.log(
      `${s.stageId.padEnd(30)}${pad(s.count, 7)}${pad((s.successRate * 100).toFixed(1), 8)}${
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
      `  ${stageId.padEnd(30)} bottleneck in ${pad(count, 4)} of ${summaries.length} requests` +
        `  (avg ${(share / count * 100).toFixed(0)}% of the request)`,
    )
  }
}

const report = (chatUrl: string, elapsed: number, failed: number) =>
  Effect.gen(function* () {
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
        `  ${stageId.padEnd(30)} ${pad(b.count, 4)} over budget, avg +${ms(b.avgOverageMs)} ms ` +
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
      if (alert.kind !== "error_frequency") continue // latency anomalies are shown on the dashboard
      console.log(
        `  ALERT ${alert.category} errors in ${alert.stageId}: ${alert.count} in ${
          alert.windowMs / 60_000
        } min (threshold ${alert.threshold})`,
      )
    }

    const scrape = yield* Effect.promise(() => fetch(`${chatUrl}/metrics`).then((r) => r.text()))
    const show = (title: string, pattern: RegExp, limit = 8) => {
      console.log(title)
      for (const line of scrape.split("\n").filter((l) => pattern.test(l)).slice(0, limit)) {
        console.log(`  ${line}`)
      }
    }
    console.log(`\nGET ${chatUrl}/metrics (Prometheus text format, excerpts)`)
    show(
      "Tokens and cost (from the model calls' own spans, priced per 1,000 tokens):",
      /^llm_(tokens_used|cost_dollars)_total\{/,
    )
    show("Model calls:", /^llm_requests_total\{/)
    show("Embeddings:", /^embeddings_generated_total\{/)
    show("HTTP, by route template:", /^http_requests_total\{/)
    show("The knowledge-base calls:", /^http_client_request_duration_seconds_count\{/)
    const health = yield* Effect.promise(() => fetch(`${chatUrl}/health`).then((r) => r.json()))
    console.log(
      `GET ${chatUrl}/health → ${health.status} (${
        Object.entries(health.checks as Record<string, { status: string }>).map(([k, v]) =>
          `${k} ${v.status}`
        )
          .join(", ")
      })`,
    )
  })

// ---------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------

/** Serves a web handler on a loopback port; `extra` answers the paths it knows first. */
const serve = (
  web: { readonly handler: (request: Request) => Promise<Response>; readonly dispose: () => Promise<void> },
  listen: number,
  extra?: (request: Request) => Promise<Response> | undefined,
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: listen, onListen: () => {} },
        (request) => extra?.(request) ?? web.handler(request),
      )
      return { url: `http://127.0.0.1:${server.addr.port}`, server }
    }),
    ({ server }) => Effect.promise(() => server.shutdown().then(() => web.dispose())),
  )

const main = Effect.gen(function* () {
  // One memo map: the chat app and this program share one instance of the telemetry layer.
  const memoMap = yield* Layer.makeMemoMap
  const telemetry = yield* Layer.buildWithMemoMap(TelemetryLive, memoMap, yield* Effect.scope)
  const metrics = yield* Prometheus.handler().pipe(Effect.provideContext(telemetry))
  const health = yield* Health.handler.pipe(Effect.provideContext(telemetry))
  const dashboard = (yield* Dashboard.serverAddress.pipe(Effect.provideContext(telemetry)))?.url
  console.log(`Live dashboard: ${dashboard} (served while the demo runs)\n`)

  for (const model of ["sim-large", "sim-small"] as const) {
    models.set(model, yield* Layer.build(modelLayer(model)))
  }

  const kb = yield* serve(HttpRouter.toWebHandler(KnowledgeBase, { disableLogger: true }), 0)
  kbPort = Number(new URL(kb.url).port)
  const ChatApp = HttpRouter.add("GET", "/chat/:conversation", chat(kb.url)).pipe(
    Layer.provideMerge(FetchHttpClient.layer),
    // `Layer.provideMerge`: the request handlers see the telemetry services (`Layer.provide` works too).
    Layer.provideMerge(TelemetryLive),
  )
  // The memo map makes the app use the telemetry layer already built above.
  const chatServer = yield* serve(
    HttpRouter.toWebHandler(ChatApp, { memoMap, disableLogger: true }),
    port,
    (request) => {
      const path = new URL(request.url).pathname
      return path === "/metrics" ? metrics(request) : path === "/health" ? health(request) : undefined
    },
  )

  console.log(
    `stagetrace demo — ${requestCount} chat requests arriving over about three seconds, seed ${seed}\n`,
  )
  console.log(
    `Exporter.console prints ${printKept ? "every kept request" : "requests over 800 ms"} as they finish:\n`,
  )
  const send = (p: Plan) =>
    Effect.promise(() =>
      fetch(`${chatServer.url}/chat/c-${p.index % 40}?plan=${p.index}`, { headers: { "x-request-id": p.id } })
        .then(async (response) => {
          await response.body?.cancel()
          return response.status
        })
    )
  const started = performance.now()
  const statuses = yield* Effect.all(plans.map((p) => Effect.andThen(pause(p.arrivalMs), send(p))), {
    concurrency: "unbounded",
  })
  const elapsed = performance.now() - started
  yield* report(chatServer.url, elapsed, statuses.filter((s) => s >= 500).length).pipe(
    Effect.provideContext(telemetry),
  )
  console.log(`\nKept requests are appended to ${jsonlDir}/; turn them into a report with:`)
  console.log(`  deno task report ${jsonlDir}`)
  if (keepServing) {
    console.log(`\nServing ${chatServer.url}/chat/:conversation, /metrics and /health — Ctrl-C to stop`)
    console.log(`Dashboard: ${dashboard} (a few simulated requests a second keep it moving)`)
    yield* Effect.forever(
      Effect.suspend(() => {
        const next = plan(plans.length)
        plans.push(next)
        return Effect.andThen(pause(100 + rng() * 300), Effect.forkChild(Effect.exit(send(next))))
      }),
    )
  }
})

// Budget warnings and alert errors are logged through Effect's Logger; the demo prints summaries instead.
const QuietLogs = Layer.succeed(References.MinimumLogLevel, "None")

// `runMain` turns SIGINT/SIGTERM into interruption, so open spans end and queued telemetry is flushed.
const exit = await Telemetry.runMain(main.pipe(Effect.scoped, Effect.provide(QuietLogs)))
if (exit._tag === "Failure") console.error(String(exit.cause))
