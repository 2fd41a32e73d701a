/**
 * Snapshots and their merge (aggregation across isolates): a snapshot survives structured cloning and
 * renders exactly like the store it was taken from; merging sums counters and histograms exactly, combines
 * gauges as declared, folds label collisions and overflow series into one series each, and skips (and
 * counts) malformed or conflicting parts instead of throwing.
 */
import assert from "node:assert/strict"
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import { MetricCatalogue, Metrics } from "../../mod.ts"
import { render } from "../../src/metrics/internal/render.ts"
import {
  type FamilySnapshot,
  mergeSnapshots,
  type Snapshot,
  takeSnapshot,
} from "../../src/metrics/internal/snapshot.ts"
import { Store } from "../../src/metrics/internal/store.ts"

const orders = Metrics.defineUnsafe({
  name: "shop_orders_total",
  type: "counter",
  description: "Orders placed",
  labels: ["channel"],
})
const latency = Metrics.defineUnsafe({
  name: "shop_latency_seconds",
  type: "histogram",
  description: "Latency",
  unit: "seconds",
  labels: ["route"],
  buckets: [0.1, 0.5, 1],
})
const depth = Metrics.defineUnsafe({ name: "shop_queue_depth", type: "gauge", description: "Queue depth" })
const version = Metrics.defineUnsafe({
  name: "shop_config_version",
  type: "gauge",
  description: "Config version",
  aggregation: "max",
})
const floor = Metrics.defineUnsafe({
  name: "shop_free_slots",
  type: "gauge",
  description: "Free slots",
  aggregation: "min",
})

const makeStore = (maxSeriesPerMetric = 100, registry?: Metric.MetricRegistry): Store =>
  new Store({
    enabled: true,
    maxSeriesPerMetric,
    seriesTtlMs: Infinity,
    registry,
    redactor: () => undefined,
  })

const empty = Context.empty() as Context.Context<never>
const none: ReadonlySet<string> = new Set()

/** A snapshot as another isolate would receive it. */
const snap = (store: Store, isolate: string): Snapshot =>
  structuredClone(takeSnapshot(store, empty, isolate, none))

const drops = () => {
  const seen: Array<[string, string]> = []
  return { seen, drop: (metric: string, reason: string) => void seen.push([metric, reason]) }
}

const mergedText = (snapshots: ReadonlyArray<Snapshot>, maxSeries = 100, om = false) => {
  const { seen, drop } = drops()
  const merged = mergeSnapshots(snapshots, maxSeries, drop)
  return { text: render(merged.store, empty, om, merged.registry), drops: seen }
}

const line = (text: string, prefix: string): string | undefined =>
  text.split("\n").find((l) => l.startsWith(prefix + " ") || l === prefix)

Deno.test("a cloned snapshot renders exactly like the store it was taken from, in both formats", () => {
  const store = makeStore(3)
  store.increment(orders, { channel: "web" }, 2)
  store.increment(orders, { channel: 'we"b\\sh\nop' }, 0.25)
  store.increment(orders, { channel: "app" })
  store.increment(orders, { channel: "kiosk" }) // overflow (limit 3 with one more below)
  store.increment(orders, { channel: "fax" }, 4) // overflow
  for (const v of [0.05, 0.3, 0.3, 0.7, 5]) store.observe(latency, { route: "/chat" }, v)
  store.set(depth, -3)
  store.set(version, 12)
  store.observe(latency, { route: "/x" }, 1e-9)
  for (const om of [false, true]) {
    const expected = render(store, empty, om)
    const { text, drops } = mergedText([snap(store, "a")], 3, om)
    assert.equal(text, expected)
    assert.deepEqual(drops, [])
  }
  assert.match(render(store, empty, false), /shop_orders_total\{otel_metric_overflow="true"\} 5/)
})

Deno.test("counters and histograms from several isolates sum exactly; label sets are merged, not repeated", () => {
  const a = makeStore()
  const b = makeStore()
  const c = makeStore()
  a.increment(orders, { channel: "web" }, 3)
  b.increment(orders, { channel: "web" }, 4)
  b.increment(orders, { channel: "app" }, 1)
  c.increment(orders, { channel: "app" }, 2)
  const observations = [[0.05, 0.2, 2], [0.4, 0.4, 0.9, 30], [0.1]]
  const stores = [a, b, c]
  observations.forEach((values, i) =>
    values.forEach((v) => stores[i]!.observe(latency, { route: "/chat" }, v))
  )
  const { text, drops } = mergedText([snap(a, "a"), snap(b, "b"), snap(c, "c")])
  assert.deepEqual(drops, [])
  assert.equal(line(text, 'shop_orders_total{channel="web"}'), 'shop_orders_total{channel="web"} 7')
  assert.equal(line(text, 'shop_orders_total{channel="app"}'), 'shop_orders_total{channel="app"} 3')
  assert.equal(text.split("\n").filter((l) => l.startsWith("shop_orders_total{")).length, 2)
  assert.equal(text.split("\n").filter((l) => l === "# TYPE shop_orders_total counter").length, 1)
  // Buckets (cumulative): ≤0.1: 0.05, 0.1 → 2; ≤0.5: +0.2, 0.4, 0.4 → 5; ≤1: +0.9 → 6; +Inf: +2, 30 → 8.
  assert.equal(
    line(text, 'shop_latency_seconds_bucket{route="/chat",le="0.1"}'),
    'shop_latency_seconds_bucket{route="/chat",le="0.1"} 2',
  )
  assert.equal(line(text, 'shop_latency_seconds_bucket{route="/chat",le="0.5"}')?.endsWith(" 5"), true)
  assert.equal(line(text, 'shop_latency_seconds_bucket{route="/chat",le="1"}')?.endsWith(" 6"), true)
  assert.equal(line(text, 'shop_latency_seconds_bucket{route="/chat",le="+Inf"}')?.endsWith(" 8"), true)
  assert.equal(
    line(text, 'shop_latency_seconds_count{route="/chat"}'),
    'shop_latency_seconds_count{route="/chat"} 8',
  )
  const sum = observations.flat().reduce((x, y) => x + y, 0)
  assert.equal(Number(line(text, 'shop_latency_seconds_sum{route="/chat"}')!.split(" ")[1]), sum)
})

Deno.test("overflow series of every isolate merge into one; merged label sets are not capped again", () => {
  const a = makeStore(2)
  const b = makeStore(2)
  for (const channel of ["w", "x", "y"]) a.increment(orders, { channel }, 1) // y overflows
  for (const channel of ["x", "z", "q", "r"]) b.increment(orders, { channel }, 10) // q, r overflow
  const { text, drops } = mergedText([snap(a, "a"), snap(b, "b")], 2)
  assert.deepEqual(drops, [])
  const series = text.split("\n").filter((l) => l.startsWith("shop_orders_total{"))
  assert.deepEqual(series.sort(), [
    'shop_orders_total{channel="w"} 1',
    'shop_orders_total{channel="x"} 11',
    'shop_orders_total{channel="z"} 10',
    'shop_orders_total{otel_metric_overflow="true"} 21',
  ])
  // The overflow counts of both isolates are summed too.
  assert.match(text, /stagetrace_metric_series_overflow_total\{metric="shop_orders_total"\} 3/)
})

Deno.test("gauges combine as declared: sum by default, max and min on request, process-wide figures by max", () => {
  const a = makeStore()
  const b = makeStore()
  a.set(depth, 4)
  b.set(depth, 5)
  a.set(version, 7)
  b.set(version, 9)
  a.set(floor, -1)
  b.set(floor, 3)
  for (const [store, rss, heap] of [[a, 500, 10], [b, 520, 20]] as const) {
    store.set(MetricCatalogue.systemMemoryUsageBytes, { type: "rss" }, rss)
    store.set(MetricCatalogue.systemMemoryUsageBytes, { type: "heap_used" }, heap)
    store.set(MetricCatalogue.systemCpuUsagePercent, heap)
  }
  const { text } = mergedText([snap(a, "a"), snap(b, "b")])
  assert.equal(line(text, "shop_queue_depth"), "shop_queue_depth 9")
  assert.equal(line(text, "shop_config_version"), "shop_config_version 9")
  assert.equal(line(text, "shop_free_slots"), "shop_free_slots -1")
  assert.equal(
    line(text, 'system_memory_usage_bytes{type="rss"}'),
    'system_memory_usage_bytes{type="rss"} 520',
  )
  assert.equal(
    line(text, 'system_memory_usage_bytes{type="heap_used"}'),
    'system_memory_usage_bytes{type="heap_used"} 30',
  )
  assert.equal(line(text, "system_cpu_usage_percent"), "system_cpu_usage_percent 20")
})

Deno.test("a family whose type, labels or buckets disagree with the first isolate's is skipped and counted", () => {
  const a = makeStore()
  a.increment(orders, { channel: "web" }, 1)
  a.observe(latency, { route: "/" }, 0.2)
  const b = makeStore()
  b.increment(
    Metrics.defineUnsafe({
      name: "shop_orders_total",
      type: "counter",
      description: "Orders",
      labels: ["shop"],
    }),
    { shop: "eu" },
    5,
  )
  b.observe(
    Metrics.defineUnsafe({
      name: "shop_latency_seconds",
      type: "histogram",
      description: "Latency",
      unit: "seconds",
      labels: ["route"],
      buckets: [0.1, 1],
    }),
    { route: "/" },
    0.2,
  )
  const { text, drops } = mergedText([snap(a, "a"), snap(b, "b")])
  assert.deepEqual(drops.sort(), [
    ["shop_latency_seconds", "aggregation_conflict"],
    ["shop_orders_total", "aggregation_conflict"],
  ])
  assert.equal(line(text, 'shop_orders_total{channel="web"}'), 'shop_orders_total{channel="web"} 1')
  assert.doesNotMatch(text, /shop="eu"/)
  assert.match(text, /shop_latency_seconds_count\{route="\/"\} 1\n/)
})

Deno.test("malformed snapshots from other isolates are skipped and counted, never thrown", () => {
  const a = makeStore()
  a.increment(orders, { channel: "web" }, 1)
  const good = snap(a, "a")
  const family = good.families.find((f) => f.name === "shop_orders_total")!
  const bad = (patch: Partial<Record<keyof FamilySnapshot, unknown>>): Snapshot => ({
    ...good,
    isolate: "bad",
    families: [{ ...family, ...patch } as FamilySnapshot],
  })
  const inputs: Array<Snapshot> = [
    good,
    bad({ name: "evil\n# TYPE injected counter" }),
    bad({ data: [1] }),
    bad({ data: new Float64Array([1, 2]) }), // two rows, one label set
    bad({ values: [3] }),
    bad({ labels: ["le\n"] }),
    bad({ type: "summary" }),
    bad({ aggregation: "avg" }),
    bad({ data: new Float64Array([-1]) }), // a negative counter
    bad({ data: new Float64Array([NaN]) }),
    bad({ data: new Float64Array([Infinity]) }), // an infinite counter
    { ...good, families: null } as unknown as Snapshot,
    {
      ...good,
      families: [],
      foreign: [{ id: "x", attributes: {}, state: { type: "Counter", count: "1" } }],
    } as unknown as Snapshot,
    { ...good, families: [null] } as unknown as Snapshot,
  ]
  const { text, drops } = mergedText(inputs)
  assert.equal(line(text, 'shop_orders_total{channel="web"}'), 'shop_orders_total{channel="web"} 1')
  assert.doesNotMatch(text, /injected/)
  assert.equal(drops.length, inputs.length - 1)
  assert.ok(drops.every(([, reason]) => reason === "invalid_snapshot"), JSON.stringify(drops))
})

Deno.test("a family snapshot with more label sets than maxSeriesPerMetric is refused", () => {
  const big = makeStore(10)
  for (let i = 0; i < 10; i++) big.increment(orders, { channel: `c${i}` })
  const { text, drops } = mergedText([snap(big, "big")], 5)
  assert.deepEqual(drops, [["shop_orders_total", "too_many_series"]])
  assert.doesNotMatch(text, /shop_orders_total\{/)
})

Deno.test("other metrics of Effect's registry merge by name and attributes; summaries stay per isolate", () => {
  const stores = ["a", "b"].map((id, i) => {
    const registry: Metric.MetricRegistry = new Map()
    const context = Context.make(Metric.MetricRegistry, registry) as Context.Context<never>
    const store = makeStore(100, registry)
    Metric.counter("effect_jobs_total", { attributes: { queue: "q" }, incremental: true })
      .updateUnsafe(i + 1, context)
    Metric.counter("effect_big", { bigint: true, incremental: true }).updateUnsafe(
      BigInt(2 ** 53) + BigInt(i),
      context,
    )
    Metric.gauge("effect_open").updateUnsafe(10 * (i + 1), context)
    const h = Metric.histogram("effect_size", { boundaries: [1, 10] })
    h.updateUnsafe(i === 0 ? 0.5 : 5, context)
    h.updateUnsafe(100, context)
    const f = Metric.frequency("effect_codes")
    f.updateUnsafe("200", context)
    if (i === 1) f.updateUnsafe("500", context)
    Metric.summary("effect_lag", { maxAge: "1 minute", maxSize: 10, quantiles: [0.5] }).updateUnsafe(
      i + 1,
      context,
    )
    return { id, store, context }
  })
  const snapshots = stores.map(({ id, store, context }) =>
    structuredClone(takeSnapshot(store, context, id, none))
  )
  const { text, drops } = mergedText(snapshots)
  assert.deepEqual(drops, [])
  assert.equal(line(text, 'effect_jobs_total{queue="q"}'), 'effect_jobs_total{queue="q"} 3')
  assert.equal(line(text, "effect_big_total"), `effect_big_total ${2n * BigInt(2 ** 53) + 1n}`)
  assert.equal(line(text, "effect_open"), "effect_open 30")
  assert.equal(line(text, 'effect_size_bucket{le="1"}'), 'effect_size_bucket{le="1"} 1')
  assert.equal(line(text, 'effect_size_bucket{le="10"}'), 'effect_size_bucket{le="10"} 2')
  assert.equal(line(text, "effect_size_count"), "effect_size_count 4")
  assert.equal(line(text, 'effect_codes_total{key="200"}'), 'effect_codes_total{key="200"} 2')
  assert.equal(line(text, 'effect_codes_total{key="500"}'), 'effect_codes_total{key="500"} 1')
  assert.equal(line(text, 'effect_lag_count{worker="a"}'), 'effect_lag_count{worker="a"} 1')
  assert.equal(line(text, 'effect_lag_count{worker="b"}'), 'effect_lag_count{worker="b"} 1')
})

Deno.test("a histogram row with impossible bucket counts is skipped and counted, never merged", () => {
  const a = makeStore()
  a.observe(latency, { route: "/" }, 0.2)
  const good = snap(a, "a")
  const family = good.families.find((f) => f.name === "shop_latency_seconds")!
  // Row layout: sum, count, min, max, then the per-bucket counts (0.1, 0.5, 1, +Inf).
  const row = (data: ReadonlyArray<number>): Snapshot => ({
    ...good,
    isolate: "bad",
    families: [{ ...family, data: new Float64Array(data) }],
  })
  const inputs = [
    good,
    row([0.2, 1, 0.2, 0.2, 0, NaN, 0, 0]), // NaN bucket
    row([0.2, 1, 0.2, 0.2, 0, 2, -1, 0]), // negative bucket
    row([0.2, 1, 0.2, 0.2, 0, 2, 0, 0]), // buckets add up to 2, count says 1
    row([0.2, 1.5, 0.2, 0.2, 0, 1.5, 0, 0]), // fractional count
  ]
  const { text, drops } = mergedText(inputs)
  assert.equal(
    line(text, 'shop_latency_seconds_bucket{route="/",le="0.5"}'),
    'shop_latency_seconds_bucket{route="/",le="0.5"} 1',
  )
  assert.equal(line(text, 'shop_latency_seconds_count{route="/"}'), 'shop_latency_seconds_count{route="/"} 1')
  assert.doesNotMatch(text, /NaN/)
  assert.deepEqual(drops, Array.from({ length: 4 }, () => ["shop_latency_seconds", "invalid_snapshot"]))
})
