/**
 * stagetrace metrics against prom-client 15.1.3 (the reference Prometheus client for JavaScript), in one
 * `deno bench` run. Each group's baseline is prom-client:
 *
 * - `counter`: one increment of a counter with 3 labels (series already exists, fresh labels object);
 * - `histogram`: one observation into a histogram with 3 labels and 11 buckets;
 * - `in Effect`: 100 increments inside one Effect program (`yield* Metrics.increment`) against 100
 *   prom-client increments in a plain loop — what an Effect user pays per increment, fiber included;
 * - `render counters` / `render histograms`: the exposition of 1,000 series;
 * - `stage hook`: a request with 10 stages on a bare recorder against the same on `Telemetry.layer`'s
 *   recorder (stage duration histogram, request counter and histogram): the metrics' cost per request.
 *
 * stagetrace's service methods are synchronous (`(yield* Metrics.Metrics).increment(...)`), like
 * prom-client's; the Effect API adds one `withFiber` step.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import client from "prom-client"
import { CurrentRecorder, defaultRecorderConfig, Recorder } from "../src/internal/recorder.ts"
import { Metrics, Prometheus, Request, Stage, Telemetry } from "../mod.ts"

const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const labelNames = ["method", "route", "status"] as const

// --- stagetrace ----------------------------------------------------------------------------------------
const runtime = ManagedRuntime.make(
  Metrics.layer({ systemMetrics: false, maxSeriesPerMetric: 5000 }).pipe(
    Layer.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
  ),
)
const metrics = await runtime.runPromise(Metrics.Metrics)

const counter = Metrics.defineUnsafe({
  name: "bench_requests_total",
  type: "counter",
  description: "Requests",
  labels: labelNames,
})
const histogram = Metrics.defineUnsafe({
  name: "bench_duration_seconds",
  type: "histogram",
  description: "Duration",
  unit: "seconds",
  labels: labelNames,
  buckets,
})
const renderCounter = Metrics.defineUnsafe({
  name: "bench_render_total",
  type: "counter",
  description: "Render",
  labels: labelNames,
})
const renderHistogram = Metrics.defineUnsafe({
  name: "bench_render_seconds",
  type: "histogram",
  description: "Render",
  unit: "seconds",
  labels: labelNames,
  buckets,
})

// --- prom-client ---------------------------------------------------------------------------------------
const promCounters = new client.Registry()
const promHistograms = new client.Registry()
const promHot = new client.Registry()
const pCounter = new client.Counter({
  name: "bench_requests_total",
  help: "Requests",
  labelNames,
  registers: [promHot],
})
const pHistogram = new client.Histogram({
  name: "bench_duration_seconds",
  help: "Duration",
  labelNames,
  buckets,
  registers: [promHot],
})
const pRenderCounter = new client.Counter({
  name: "bench_render_total",
  help: "Render",
  labelNames,
  registers: [promCounters],
})
const pRenderHistogram = new client.Histogram({
  name: "bench_render_seconds",
  help: "Render",
  labelNames,
  buckets,
  registers: [promHistograms],
})

// 1,000 series each, same label values on both sides.
for (let i = 0; i < 1000; i++) {
  const labels = { method: i % 2 === 0 ? "GET" : "POST", route: `/route/${i}`, status: String(200 + (i % 5)) }
  metrics.increment(renderCounter, labels, i)
  pRenderCounter.inc(labels, i)
  metrics.observe(renderHistogram, labels, (i % 100) / 10)
  pRenderHistogram.observe(labels, (i % 100) / 10)
}
const [stageText, stageOm] = await runtime.runPromise(
  Effect.all([Prometheus.format("text"), Prometheus.format("openmetrics")]),
)
if (!stageText.includes('bench_render_total{method="GET",route="/route/0",status="200"} 0')) {
  throw new Error("unexpected exposition")
}
if (!stageOm.endsWith("# EOF\n")) throw new Error("unexpected OpenMetrics exposition")

// Renders of counters only and histograms only: two runtimes over two stores.
const countersOnly = ManagedRuntime.make(
  Metrics.layer({ systemMetrics: false }).pipe(
    Layer.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
  ),
)
const histogramsOnly = ManagedRuntime.make(
  Metrics.layer({ systemMetrics: false }).pipe(
    Layer.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
  ),
)
const counterStore = await countersOnly.runPromise(Metrics.Metrics)
const histogramStore = await histogramsOnly.runPromise(Metrics.Metrics)
for (let i = 0; i < 1000; i++) {
  const labels = { method: i % 2 === 0 ? "GET" : "POST", route: `/route/${i}`, status: String(200 + (i % 5)) }
  counterStore.increment(renderCounter, labels, i)
  histogramStore.observe(renderHistogram, labels, (i % 100) / 10)
}
const renderCounters = Prometheus.format("text")
const renderHistograms = Prometheus.format("text")

let n = 0
const routes = ["/chat", "/search", "/health"]
const labelsAt = (i: number) => ({ method: "GET", route: routes[i % 3]!, status: "200" })

Deno.bench("prom-client counter.inc", { group: "counter", baseline: true }, () => {
  pCounter.inc(labelsAt(n++), 1)
})
Deno.bench("stagetrace metrics.increment", { group: "counter" }, () => {
  metrics.increment(counter, labelsAt(n++), 1)
})

Deno.bench("prom-client histogram.observe", { group: "histogram", baseline: true }, () => {
  pHistogram.observe(labelsAt(n++), 0.042)
})
Deno.bench("stagetrace metrics.observe", { group: "histogram" }, () => {
  metrics.observe(histogram, labelsAt(n++), 0.042)
})

const hundredInEffect = Effect.gen(function* () {
  for (let i = 0; i < 100; i++) yield* Metrics.increment(counter, labelsAt(i), 1)
})
const hundredProvided = Effect.provideService(hundredInEffect, Metrics.Metrics, metrics)
Deno.bench("100 × prom-client counter.inc", { group: "in Effect", baseline: true }, () => {
  for (let i = 0; i < 100; i++) pCounter.inc(labelsAt(i), 1)
})
Deno.bench("100 × yield* Metrics.increment", { group: "in Effect" }, () => {
  Effect.runSync(hundredProvided)
})

Deno.bench("prom-client: 1,000 counter series", { group: "render counters", baseline: true }, async () => {
  await promCounters.metrics()
})
Deno.bench("stagetrace: 1,000 counter series", { group: "render counters" }, () => {
  countersOnly.runSync(renderCounters)
})

Deno.bench(
  "prom-client: 1,000 histogram series",
  { group: "render histograms", baseline: true },
  async () => {
    await promHistograms.metrics()
  },
)
Deno.bench("stagetrace: 1,000 histogram series", { group: "render histograms" }, () => {
  histogramsOnly.runSync(renderHistograms)
})

const bareRecorder = new Recorder(defaultRecorderConfig)
const telemetryRuntime = ManagedRuntime.make(
  Telemetry.layer({ serviceName: "bench" }).pipe(
    Layer.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
  ),
)
const telemetryRecorder = await telemetryRuntime.runPromise(Effect.gen(function* () {
  return yield* CurrentRecorder
}))
const tenStages = Array.from({ length: 10 }, (_, i) => Effect.void.pipe(Stage.track(`stage_${i}`)))
const request = Effect.gen(function* () {
  for (const stage of tenStages) yield* stage
}).pipe(Request.track("request", { requestId: "bench" }))
const onBare = Effect.provideService(request, CurrentRecorder, bareRecorder)
const onTelemetry = Effect.provideService(request, CurrentRecorder, telemetryRecorder)
Deno.bench("10-stage request, bare recorder", { group: "stage hook", baseline: true }, () => {
  Effect.runSync(onBare)
})
Deno.bench("10-stage request, Telemetry.layer recorder (metrics)", { group: "stage hook" }, () => {
  Effect.runSync(onTelemetry)
})

globalThis.addEventListener("unload", () => {
  // Benchmarks end with the process; the runtimes only hold timers.
  void runtime.dispose()
  void countersOnly.dispose()
  void histogramsOnly.dispose()
  void telemetryRuntime.dispose()
})
