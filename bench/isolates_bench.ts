/**
 * The cost of aggregating metrics across isolates (`aggregateIsolates`, for `deno serve --parallel`), in
 * one `deno bench` run:
 *
 * - `scrape, one isolate`: `Prometheus.format()` on a layer without aggregation (baseline) and on one with
 *   `aggregateIsolates` but no other isolate: what turning it on costs a single-isolate process.
 * - `aggregate N isolates` (N = 2, 4): everything the scraped isolate's process does per scrape, the
 *   channel excepted — take every isolate's snapshot, copy it as the channel would (structured clone),
 *   merge and render — against prom-client 15.1.3's cluster aggregation doing the same for N workers
 *   (`getMetricsAsJSON`, a JSON round trip as Node's IPC does, `AggregatorRegistry.aggregate`, `metrics()`).
 *
 * Every isolate holds 1,000 series: a counter and an 11-bucket histogram with 500 label sets each.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import client from "prom-client"
import { Metrics, Prometheus } from "../mod.ts"
import { render } from "../src/metrics/internal/render.ts"
import { mergeSnapshots, takeSnapshot } from "../src/metrics/internal/snapshot.ts"
import { Store } from "../src/metrics/internal/store.ts"

const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const labelNames = ["method", "route", "status"] as const
const labelSets = Array.from({ length: 500 }, (_, i) => ({
  method: i % 2 === 0 ? "GET" : "POST",
  route: `/route/${i % 125}`,
  status: String(200 + (i % 4) * 100),
}))

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

const fill = (metrics: Metrics.Metrics, seed: number): void => {
  labelSets.forEach((labels, i) => {
    metrics.increment(counter, labels, 1 + ((i + seed) % 7))
    metrics.observe(histogram, labels, ((i * 37 + seed) % 1000) / 250)
  })
}

// --- one isolate: aggregation off and on -------------------------------------------------------------
const layer = (aggregate: boolean) =>
  Metrics.layer({
    systemMetrics: false,
    aggregateIsolates: aggregate ? { channel: `bench:${crypto.randomUUID()}` } : false,
  }).pipe(Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())))
const plain = ManagedRuntime.make(layer(false))
const alone = ManagedRuntime.make(layer(true))
fill(await plain.runPromise(Metrics.Metrics), 0)
fill(await alone.runPromise(Metrics.Metrics), 0)

Deno.bench("without aggregateIsolates", { group: "scrape, one isolate", baseline: true }, async () => {
  await plain.runPromise(Prometheus.format())
})
Deno.bench("aggregateIsolates, no other isolate", { group: "scrape, one isolate" }, async () => {
  await alone.runPromise(Prometheus.format())
})

// --- N isolates ----------------------------------------------------------------------------------------
const empty = Context.empty() as Context.Context<never>
const none: ReadonlySet<string> = new Set()

const stores = (n: number): Array<Store> =>
  Array.from({ length: n }, (_, i) => {
    const store = new Store({
      enabled: true,
      maxSeriesPerMetric: 2000,
      seriesTtlMs: Infinity,
      registry: new Map(),
      redactor: () => undefined,
    })
    fill(store as unknown as Metrics.Metrics, i)
    return store
  })

const promRegistries = (n: number): Array<client.Registry> =>
  Array.from({ length: n }, (_, w) => {
    const registry = new client.Registry()
    const c = new client.Counter({
      name: "bench_requests_total",
      help: "Requests",
      labelNames,
      registers: [registry],
    })
    const h = new client.Histogram({
      name: "bench_duration_seconds",
      help: "Duration",
      labelNames,
      buckets,
      registers: [registry],
    })
    labelSets.forEach((labels, i) => {
      c.inc(labels, 1 + ((i + w) % 7))
      h.observe(labels, ((i * 37 + w) % 1000) / 250)
    })
    return registry
  })

for (const n of [2, 4]) {
  const group = `aggregate ${n} isolates`
  const ours = stores(n)
  const theirs = promRegistries(n)
  Deno.bench(`prom-client AggregatorRegistry (${n} workers)`, { group, baseline: true }, async () => {
    const answers = await Promise.all(
      theirs.map(async (r) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON()))),
    )
    await client.AggregatorRegistry.aggregate(answers).metrics()
  })
  Deno.bench(`stagetrace snapshot + clone + merge + render (${n} isolates)`, { group }, () => {
    const snapshots = ours.map((store, i) => structuredClone(takeSnapshot(store, empty, `i${i}`, none)))
    const merged = mergeSnapshots(snapshots, 2000, () => {})
    render(merged.store, empty, false, merged.registry)
  })
}

globalThis.addEventListener("unload", () => {
  void plain.dispose()
  void alone.dispose()
})
