import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { MetricCatalogue, MetricDefinitionError, Metrics, Prometheus } from "../../mod.ts"
import { Store } from "../../src/metrics/internal/store.ts"
import { effectTest } from "../_harness.ts"

const layer = (options: Parameters<typeof Metrics.layer>[0] = {}) =>
  Metrics.layer({ systemMetrics: false, ...options })

/** The value of `stagetrace_metric_dropped_samples_total{metric, reason}`. */
const dropped = (metric: string, reason: string) =>
  Metrics.value(MetricCatalogue.metricDroppedSamples, { metric, reason })

const routes = Metrics.defineUnsafe({
  name: "test_requests_total",
  type: "counter",
  description: "Requests by route",
  labels: ["route", "method"],
})
const queueDepth = Metrics.defineUnsafe({
  name: "test_queue_depth",
  type: "gauge",
  description: "Queue depth",
  labels: ["queue"],
})
const latency = Metrics.defineUnsafe({
  name: "test_latency_seconds",
  type: "histogram",
  description: "Latency",
  unit: "seconds",
  labels: ["route"],
  buckets: [0.1, 0.5, 1],
})
const plain = Metrics.defineUnsafe({ name: "test_plain_total", type: "counter", description: "No labels" })

// ---------------------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------------------

const ruleOf = (spec: unknown) =>
  Effect.runPromise(
    Effect.flip(Metrics.define(spec as Parameters<typeof Metrics.define>[0])),
  ).then((error) => [error.rule, error.field])

Deno.test("Metrics.define() rejects each broken rule with its rule id and field", async () => {
  const cases: Array<[unknown, string, string]> = [
    [{ name: "Requests_total", type: "counter", description: "x" }, "name_syntax", "name"],
    [{ name: "app:requests_total", type: "counter", description: "x" }, "name_syntax", "name"],
    [{ name: "1requests_total", type: "counter", description: "x" }, "name_syntax", "name"],
    // Nothing before _total: OpenMetrics would name the family "".
    [{ name: "_total", type: "counter", description: "x" }, "name_syntax", "name"],
    [{ name: "__requests_total", type: "counter", description: "x" }, "name_reserved", "name"],
    [{ name: "requests", type: "counter", description: "x" }, "counter_suffix", "name"],
    [{ name: "depth_total", type: "gauge", description: "x" }, "total_suffix", "name"],
    [{ name: "latency_count", type: "gauge", description: "x" }, "reserved_suffix", "name"],
    [{ name: "latency_bucket", type: "histogram", description: "x" }, "reserved_suffix", "name"],
    [{ name: "latency_ms", type: "histogram", description: "x" }, "base_unit", "name"],
    [{ name: "payload_kilobytes", type: "gauge", description: "x" }, "base_unit", "name"],
    [{ name: "payload_size", type: "gauge", description: "x", unit: "milliseconds" }, "base_unit", "unit"],
    [{ name: "payload_size", type: "gauge", description: "x", unit: "Bytes" }, "unit_syntax", "unit"],
    [{ name: "payload_size", type: "gauge", description: "x", unit: "bytes" }, "unit_suffix", "name"],
    [{ name: "cost_total", type: "counter", description: "x", unit: "dollars" }, "unit_suffix", "name"],
    [{ name: "depth", type: "gauge", description: "  " }, "description", "description"],
    [{ name: "depth", type: "gauge", description: "x", labels: ["queueName"] }, "label_syntax", "labels"],
    [{ name: "depth", type: "gauge", description: "x", labels: ["le"] }, "label_reserved", "labels"],
    [{ name: "depth", type: "gauge", description: "x", labels: ["__name"] }, "label_reserved", "labels"],
    [
      { name: "depth", type: "gauge", description: "x", labels: ["otel_metric_overflow"] },
      "label_reserved",
      "labels",
    ],
    [{ name: "depth", type: "gauge", description: "x", labels: ["q", "q"] }, "label_duplicate", "labels"],
    [{ name: "depth", type: "gauge", description: "x", buckets: [1] }, "buckets_type", "buckets"],
    [{ name: "size", type: "histogram", description: "x", buckets: [] }, "buckets_empty", "buckets"],
    [
      { name: "size", type: "histogram", description: "x", buckets: [1, Infinity] },
      "buckets_finite",
      "buckets",
    ],
    [{ name: "size", type: "histogram", description: "x", buckets: [1, NaN] }, "buckets_finite", "buckets"],
    [
      { name: "size", type: "histogram", description: "x", buckets: [1, 5, 2] },
      "buckets_increasing",
      "buckets",
    ],
    [{ name: "size", type: "histogram", description: "x", buckets: [1, 1] }, "buckets_increasing", "buckets"],
    [{ name: "size", type: "summary", description: "x" }, "shape", "type"],
    [{ name: 42, type: "gauge", description: "x" }, "shape", "name"],
  ]
  for (const [spec, rule, field] of cases) {
    assert.deepEqual(await ruleOf(spec), [rule, field], JSON.stringify(spec))
  }
})

Deno.test("Metrics.define() accepts valid definitions and fills histogram defaults", async () => {
  const counter = await Effect.runPromise(
    Metrics.define({ name: "llm_cost_dollars_total", type: "counter", description: "Cost", unit: "dollars" }),
  )
  assert.equal(counter.unit, "dollars")
  assert.deepEqual(counter.labels, [])
  const histogram = await Effect.runPromise(
    Metrics.define({
      name: "work_duration_seconds",
      type: "histogram",
      description: "Work",
      unit: "seconds",
    }),
  )
  assert.deepEqual(histogram.buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
})

Deno.test("Metrics.defineUnsafe() throws the MetricDefinitionError with a message naming the rule", () => {
  assert.throws(
    () => Metrics.defineUnsafe({ name: "requests", type: "counter", description: "x" }),
    (error: unknown) =>
      error instanceof MetricDefinitionError && error.rule === "counter_suffix" &&
      /requests.*_total.*counter_suffix/.test(error.message),
  )
})

Deno.test("every catalogue metric is a valid definition", async () => {
  for (const [key, def] of Object.entries(MetricCatalogue)) {
    const exit = await Effect.runPromise(
      Effect.exit(Metrics.define(def as Parameters<typeof Metrics.define>[0])),
    )
    assert.ok(Exit.isSuccess(exit), `${key} is invalid`)
  }
})

// ---------------------------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------------------------

effectTest("counters, gauges and histograms record per label set", () =>
  Effect.gen(function* () {
    yield* Metrics.increment(routes, { route: "/a", method: "GET" })
    yield* Metrics.increment(routes, { method: "GET", route: "/a" }, 2)
    yield* Metrics.increment(routes, { route: "/b", method: "GET" })
    yield* Metrics.increment(plain)
    yield* Metrics.increment(plain, 4)
    yield* Metrics.set(queueDepth, { queue: "q" }, 7)
    yield* Metrics.add(queueDepth, { queue: "q" }, -2)
    yield* Metrics.observe(latency, { route: "/a" }, 0.3)
    yield* Metrics.observe(latency, { route: "/a" }, 2)
    assert.equal(yield* Metrics.value(routes, { route: "/a", method: "GET" }), 3)
    assert.equal(yield* Metrics.value(routes, { route: "/b", method: "GET" }), 1)
    assert.equal(yield* Metrics.value(routes, { route: "/c", method: "GET" }), undefined)
    assert.equal(yield* Metrics.value(plain), 5)
    assert.equal(yield* Metrics.value(queueDepth, { queue: "q" }), 5)
    assert.deepEqual(yield* Metrics.value(latency, { route: "/a" }), {
      count: 2,
      sum: 2.3,
      buckets: [[0.1, 0], [0.5, 1], [1, 1], [Infinity, 2]],
    })
  }).pipe(Effect.provide(layer())))

effectTest("numbers and booleans are accepted as label values", () =>
  Effect.gen(function* () {
    const byCode = Metrics.defineUnsafe({
      name: "test_codes_total",
      type: "counter",
      description: "x",
      labels: ["code", "cached"],
    })
    yield* Metrics.increment(byCode, { code: 200, cached: true })
    assert.equal(yield* Metrics.value(byCode, { code: "200", cached: "true" }), 1)
  }).pipe(Effect.provide(layer())))

effectTest("bad samples are counted drops, never thrown and never recorded", () =>
  Effect.gen(function* () {
    const metrics = yield* Metrics.Metrics
    // deno-lint-ignore no-explicit-any
    const loose = metrics as any
    loose.increment(routes, { route: "/a", method: "GET", user: "u1" })
    loose.increment(routes, { route: "/a" })
    loose.increment(routes, { route: "/a", other: "x" })
    loose.increment(routes, { route: "/a", method: { nested: true } })
    loose.increment(routes)
    metrics.increment(routes, { route: "/a", method: "GET" }, -1)
    metrics.increment(routes, { route: "/a", method: "GET" }, NaN)
    metrics.increment(routes, { route: "/a", method: "GET" }, Infinity)
    loose.increment(routes, { route: "/a", method: "GET" }, "1")
    metrics.set(queueDepth, { queue: "q" }, NaN)
    metrics.observe(latency, { route: "/a" }, NaN)
    metrics.observe(latency, { route: "/a" }, -Infinity)
    loose.observe(routes, { route: "/a", method: "GET" }, 1)
    loose.increment({ name: "forged_total", type: "counter", labels: [] })
    loose.increment(plain, { extra: "x" })
    assert.equal(yield* Metrics.value(routes, { route: "/a", method: "GET" }), undefined)
    assert.equal(yield* Metrics.value(queueDepth, { queue: "q" }), undefined)
    assert.equal(yield* Metrics.value(latency, { route: "/a" }), undefined)
    assert.equal(yield* Metrics.value(plain), undefined)
    assert.equal(yield* dropped("test_requests_total", "undeclared_label"), 2)
    assert.equal(yield* dropped("test_requests_total", "missing_label"), 2)
    assert.equal(yield* dropped("test_requests_total", "invalid_label_value"), 1)
    assert.equal(yield* dropped("test_requests_total", "negative_increment"), 1)
    assert.equal(yield* dropped("test_requests_total", "nan"), 1)
    assert.equal(yield* dropped("test_requests_total", "infinite"), 1)
    assert.equal(yield* dropped("test_requests_total", "invalid_value"), 1)
    assert.equal(yield* dropped("test_requests_total", "wrong_type"), 1)
    assert.equal(yield* dropped("test_queue_depth", "nan"), 1)
    assert.equal(yield* dropped("test_latency_seconds", "nan"), 1)
    assert.equal(yield* dropped("test_latency_seconds", "infinite"), 1)
    assert.equal(yield* dropped("forged_total", "invalid_definition"), 1)
    assert.equal(yield* dropped("test_plain_total", "undeclared_label"), 1)
  }).pipe(Effect.provide(layer())))

effectTest("labels are typed from the definition", () =>
  Effect.gen(function* () {
    // @ts-expect-error: `user` is not a declared label
    yield* Metrics.increment(routes, { route: "/a", method: "GET", user: "u1" })
    // @ts-expect-error: `method` is missing
    yield* Metrics.increment(routes, { route: "/a" })
    // @ts-expect-error: a counter cannot be set
    yield* Metrics.set(routes, { route: "/a", method: "GET" }, 1)
    // @ts-expect-error: a labelled counter needs its labels
    yield* Metrics.increment(routes, 1)
    assert.equal(yield* dropped("test_requests_total", "undeclared_label"), 1)
  }).pipe(Effect.provide(layer())))

effectTest(
  "a definition with the same name and shape shares the series; a different shape is a drop",
  () =>
    Effect.gen(function* () {
      const again = Metrics.defineUnsafe({
        name: "test_requests_total",
        type: "counter",
        description: "Another description",
        labels: ["route", "method"],
      })
      const other = Metrics.defineUnsafe({
        name: "test_requests_total",
        type: "counter",
        description: "x",
        labels: ["route"],
      })
      yield* Metrics.increment(routes, { route: "/a", method: "GET" })
      yield* Metrics.increment(again, { route: "/a", method: "GET" })
      yield* Metrics.increment(other, { route: "/a" })
      assert.equal(yield* Metrics.value(routes, { route: "/a", method: "GET" }), 2)
      assert.equal(yield* dropped("test_requests_total", "conflicting_definition"), 1)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "series appear in the MetricRegistry of the context the layer was built in",
  () =>
    Effect.gen(function* () {
      const registry = new Map()
      yield* Effect.gen(function* () {
        yield* Metrics.increment(routes, { route: "/a", method: "GET" }, 3)
        yield* Metrics.observe(latency, { route: "/a" }, 0.2)
      }).pipe(Effect.provide(layer().pipe(Layer.provide(Layer.succeed(Metric.MetricRegistry, registry)))))
      const snapshot = yield* Metric.snapshot.pipe(Effect.provideService(Metric.MetricRegistry, registry))
      const counter = snapshot.find((m) => m.id === "test_requests_total")
      assert.deepEqual(counter?.attributes, { route: "/a", method: "GET" })
      assert.deepEqual(counter?.state, { count: 3, incremental: true })
      const histogram = snapshot.find((m) => m.id === "test_latency_seconds")
      assert.equal(histogram?.attributes?.["unit"], "seconds")
      assert.deepEqual((histogram?.state as Metric.HistogramState).buckets, [[0.1, 0], [0.5, 1], [1, 1], [
        Infinity,
        1,
      ]])
    }),
)

effectTest("metricsEnabled: false makes every update a no-op", () =>
  Effect.gen(function* () {
    yield* Metrics.increment(routes, { route: "/a", method: "GET" })
    assert.equal(yield* Metrics.value(routes, { route: "/a", method: "GET" }), undefined)
    assert.equal(yield* Prometheus.format(), "")
  }).pipe(Effect.provide(layer({ metricsEnabled: false }))))

// ---------------------------------------------------------------------------------------------------------
// Cardinality, eviction, memory
// ---------------------------------------------------------------------------------------------------------

effectTest(
  "past maxSeriesPerMetric, samples go to the overflow series and are counted",
  () =>
    Effect.gen(function* () {
      for (const route of ["/a", "/b", "/c", "/d", "/e"]) {
        yield* Metrics.increment(routes, { route, method: "GET" })
      }
      yield* Metrics.increment(routes, { route: "/a", method: "GET" })
      assert.equal(yield* Metrics.value(routes, { route: "/a", method: "GET" }), 2)
      assert.equal(yield* Metrics.value(routes, { route: "/d", method: "GET" }), undefined)
      assert.equal(
        yield* Metrics.value(MetricCatalogue.metricSeriesOverflow, { metric: "test_requests_total" }),
        2,
      )
      const text = yield* Prometheus.format()
      assert.match(text, /^test_requests_total\{otel_metric_overflow="true"\} 2$/m)
      assert.equal(text.match(/^test_requests_total\{/gm)?.length, 4)
    }).pipe(Effect.provide(layer({ maxSeriesPerMetric: 3 }))),
)

effectTest(
  "label values longer than 1,024 characters are cut, and the cut counted",
  () =>
    Effect.gen(function* () {
      const long = "x".repeat(5000)
      yield* Metrics.increment(routes, { route: long, method: "GET" })
      yield* Metrics.increment(routes, { route: long + "y", method: "GET" })
      assert.equal(yield* Metrics.value(routes, { route: "x".repeat(1024), method: "GET" }), 2)
      assert.equal(yield* dropped("test_requests_total", "label_truncated"), 2)
      const text = yield* Prometheus.format()
      assert.match(text, new RegExp(`^test_requests_total\\{route="x{1024}",method="GET"\\} 2$`, "m"))
    }).pipe(Effect.provide(layer())),
)

effectTest("memory stays bounded under a label flood", () =>
  Effect.gen(function* () {
    const registry = new Map()
    const store = yield* Effect.gen(function* () {
      const metrics = yield* Metrics.Metrics
      for (let i = 0; i < 50_000; i++) {
        metrics.increment(routes, { route: `/user/${i}`, method: "GET" })
        metrics.observe(latency, { route: `/user/${i}` }, 0.1)
      }
      return metrics as unknown as Store
    }).pipe(Effect.provide(
      layer({ maxSeriesPerMetric: 100 }).pipe(
        Layer.provide(Layer.succeed(Metric.MetricRegistry, registry)),
      ),
    ))
    for (const name of ["test_requests_total", "test_latency_seconds"]) {
      const family = store.families.get(name)!
      assert.equal(family.size, 100)
      assert.equal(family.list.length, 101)
      assert.ok(family.root.size <= 100)
      const inRegistry = [...registry.values()].filter((m) => m.id === name).length
      assert.equal(inRegistry, 101)
    }
    assert.equal(
      store.value(MetricCatalogue.metricSeriesOverflow, { metric: "test_requests_total" }),
      50_000 - 100,
    )
  }))

effectTest(
  "counter and histogram series idle for seriesTtl are evicted; gauges are kept",
  () =>
    Effect.gen(function* () {
      const registry = new Map()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        layer({ seriesTtl: "1 minute" }).pipe(Layer.provide(Layer.succeed(Metric.MetricRegistry, registry))),
        scope,
      )
      const run = <A>(effect: Effect.Effect<A>) => Effect.provide(effect, context)
      yield* run(Metrics.increment(routes, { route: "/old", method: "GET" }))
      yield* run(Metrics.observe(latency, { route: "/old" }, 0.2))
      yield* run(Metrics.set(queueDepth, { queue: "q" }, 3))
      yield* TestClock.adjust("30 seconds")
      yield* run(Metrics.increment(routes, { route: "/new", method: "GET" }))
      yield* TestClock.adjust("25 seconds")
      // 55 s idle: not evicted yet
      assert.equal(yield* run(Metrics.value(routes, { route: "/old", method: "GET" })), 1)
      yield* TestClock.adjust("20 seconds")
      // 75 s idle: evicted, from the store and from the registry
      assert.equal(yield* run(Metrics.value(routes, { route: "/old", method: "GET" })), undefined)
      assert.equal(yield* run(Metrics.value(latency, { route: "/old" })), undefined)
      assert.equal(yield* run(Metrics.value(routes, { route: "/new", method: "GET" })), 1)
      assert.equal(yield* run(Metrics.value(queueDepth, { queue: "q" })), 3)
      const ids = [...registry.values()].map((m) => JSON.stringify([m.id, m.attributes]))
      assert.ok(!ids.some((id) => id.includes("/old")), ids.join("\n"))
      // An evicted series starts again from zero when it reappears.
      yield* run(Metrics.increment(routes, { route: "/old", method: "GET" }))
      assert.equal(yield* run(Metrics.value(routes, { route: "/old", method: "GET" })), 1)
      yield* TestClock.adjust("1 minute")
      assert.equal(yield* run(Metrics.value(routes, { route: "/new", method: "GET" })), undefined)
      yield* Scope.close(scope, Exit.void)
    }),
)

Deno.test("label values pass through the redactor; values that redact alike share one series", () => {
  const store = new Store({
    enabled: true,
    maxSeriesPerMetric: 10,
    seriesTtlMs: Infinity,
    registry: undefined,
    redactor: () => ({
      redactString: (text) => text.replace(/[\w.]+@[\w.]+/g, "[EMAIL]"),
      redactValue: (_key, value) =>
        typeof value === "string" ? value.replace(/[\w.]+@[\w.]+/g, "[EMAIL]") : value,
    }),
  })
  store.increment(routes, { route: "/u/a@x.io", method: "GET" })
  store.increment(routes, { route: "/u/b@x.io", method: "GET" })
  store.increment(routes, { route: "/u/a@x.io", method: "GET" })
  store.increment(routes, { route: "/plain", method: "GET" })
  const family = store.families.get("test_requests_total")!
  assert.equal(family.size, 2)
  assert.deepEqual(family.list.map((s) => [s.labelsText, s.value]), [
    ['{route="/u/[EMAIL]",method="GET"}', 3],
    ['{route="/plain",method="GET"}', 1],
  ])
})

// ---------------------------------------------------------------------------------------------------------
// Thresholds
// ---------------------------------------------------------------------------------------------------------

effectTest("onThreshold runs the effect once per crossing, per series", () =>
  Effect.gen(function* () {
    const events: Array<string> = []
    yield* Metrics.onThreshold(
      queueDepth,
      (value) => value > 10,
      (event) => Effect.sync(() => events.push(`${event.labels.queue}=${event.value}`)),
    )
    const values = [5, 11, 12, 15, 3, 20, 21]
    for (const value of values) yield* Metrics.set(queueDepth, { queue: "a" }, value)
    yield* Metrics.set(queueDepth, { queue: "b" }, 50)
    yield* Effect.yieldNow
    assert.deepEqual(events, ["a=11", "a=20", "b=50"])
  }).pipe(Effect.provide(layer())))

effectTest(
  "a failing threshold effect or predicate is counted, never propagated; watching ends with the scope",
  () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      yield* Metrics.onThreshold(plain, (total) => total >= 1, Effect.fail("alert failed")).pipe(
        Scope.provide(scope),
      )
      yield* Metrics.onThreshold(plain, () => {
        throw new Error("bad predicate")
      }, Effect.void).pipe(Scope.provide(scope))
      yield* Metrics.increment(plain)
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.equal(yield* dropped("test_plain_total", "threshold_effect_failed"), 1)
      assert.equal(yield* dropped("test_plain_total", "threshold_predicate_failed"), 1)
      yield* Scope.close(scope, Exit.void)
      yield* Metrics.increment(plain)
      assert.equal(yield* dropped("test_plain_total", "threshold_predicate_failed"), 1)
      assert.equal(yield* Metrics.value(plain), 2)
    }).pipe(Effect.provide([layer(), Logger.layer([])])),
)

// ---------------------------------------------------------------------------------------------------------
// Wrappers
// ---------------------------------------------------------------------------------------------------------

/** Runs `wrap(sleep ms, then outcome)` under the test clock and returns its exit. */
const timedRun = <A, E>(
  ms: number,
  outcome: Effect.Effect<A, E>,
  wrap: (inner: Effect.Effect<A, E>) => Effect.Effect<A, E>,
) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(wrap(Effect.andThen(Effect.sleep(`${ms} millis`), outcome)), {
      startImmediately: true,
    })
    yield* TestClock.adjust(`${ms} millis`)
    return yield* Fiber.await(fiber)
  })

effectTest(
  "track records calls, errors (not interruptions) and durations, data-first and data-last",
  () =>
    Effect.gen(function* () {
      const labels = { component: "ingest" }
      yield* timedRun(200, Effect.succeed(1), Metrics.track("ingest_batch", { labels }))
      yield* timedRun(300, Effect.fail("boom"), (inner) => Metrics.track(inner, "ingest_batch", { labels }))
      const interrupted = yield* Effect.forkChild(
        Effect.never.pipe(Metrics.track("ingest_batch", { labels })),
        {
          startImmediately: true,
        },
      )
      yield* Fiber.interrupt(interrupted)
      const text = yield* Prometheus.format()
      assert.match(text, /^ingest_batch_calls_total\{component="ingest"\} 3$/m)
      assert.match(text, /^ingest_batch_errors_total\{component="ingest"\} 1$/m)
      assert.match(text, /^ingest_batch_duration_seconds_count\{component="ingest"\} 3$/m)
      assert.match(text, /^ingest_batch_duration_seconds_sum\{component="ingest"\} 0\.5$/m)
      assert.match(text, /^# UNIT ingest_batch_duration_seconds seconds$/m)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "track with an invalid name passes the effect through and counts a drop",
  () =>
    Effect.gen(function* () {
      const result = yield* Effect.succeed("kept").pipe(Metrics.track("Bad Name"))
      assert.equal(result, "kept")
      assert.equal(yield* dropped("Bad Name", "invalid_definition"), 1)
    }).pipe(Effect.provide(layer())),
)

effectTest("measureLatency records every run in seconds, failures included", () =>
  Effect.gen(function* () {
    yield* timedRun(400, Effect.void, Metrics.measureLatency(latency, { route: "/a" }))
    const exit = yield* timedRun(
      1500,
      Effect.fail("x"),
      (inner) => Metrics.measureLatency(inner, latency, { route: "/a" }),
    )
    assert.ok(Exit.isFailure(exit))
    const value = yield* Metrics.value(latency, { route: "/a" })
    assert.equal(value?.count, 2)
    assert.equal(value?.sum, 1.9)
    assert.deepEqual(value?.buckets.map(([, c]) => c), [0, 1, 1, 2])
  }).pipe(Effect.provide(layer())))

effectTest(
  "countCalls takes labels from Effect.fn arguments, or constant labels data-first",
  () =>
    Effect.gen(function* () {
      const byUser = Metrics.defineUnsafe({
        name: "test_user_calls_total",
        type: "counter",
        description: "x",
        labels: ["user"],
      })
      const handle = Effect.fn("handle")(
        function* (user: string, _n: number) {
          yield* Effect.void
          return user
        },
        Metrics.countCalls(byUser, { labels: (user: string) => ({ user }) }),
      )
      yield* handle("u1", 1)
      yield* handle("u2", 1)
      yield* handle("u1", 2)
      yield* Metrics.countCalls(Effect.void, byUser, { labels: { user: "u3" } })
      yield* Effect.void.pipe(Metrics.countCalls(plain))
      const throwing = Metrics.countCalls(Effect.succeed(5), byUser, {
        labels: () => {
          throw new Error("no")
        },
      })
      assert.equal(yield* throwing, 5)
      assert.equal(yield* Metrics.value(byUser, { user: "u1" }), 2)
      assert.equal(yield* Metrics.value(byUser, { user: "u2" }), 1)
      assert.equal(yield* Metrics.value(byUser, { user: "u3" }), 1)
      assert.equal(yield* Metrics.value(plain), 1)
      assert.equal(yield* dropped("test_user_calls_total", "label_function_failed"), 1)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "trackLlmUsage records requests, latency, tokens, cost and failures",
  () =>
    Effect.gen(function* () {
      interface Completion {
        readonly tokens: { readonly input: number; readonly output: number }
      }
      const options = {
        provider: "openai",
        model: "gpt-4",
        pricing: { promptPer1k: 0.03, completionPer1k: 0.06 },
        usage: (c: Completion) => ({ promptTokens: c.tokens.input, completionTokens: c.tokens.output }),
      }
      const call = (input: number, output: number) =>
        Effect.succeed<Completion>({ tokens: { input, output } }).pipe(Metrics.trackLlmUsage(options))
      yield* timedRun(
        2000,
        Effect.succeed<Completion>({ tokens: { input: 1000, output: 500 } }),
        Metrics.trackLlmUsage(options),
      )
      yield* call(2000, 0)
      yield* Effect.ignore(
        Metrics.trackLlmUsage(Effect.fail("rate limited") as Effect.Effect<Completion, string>, options),
      )
      yield* call(-1, 3)
      const base = { provider: "openai", model: "gpt-4" }
      assert.equal(yield* Metrics.value(MetricCatalogue.llmRequestsTotal, { ...base, status: "ok" }), 3)
      assert.equal(yield* Metrics.value(MetricCatalogue.llmRequestsTotal, { ...base, status: "error" }), 1)
      assert.equal(
        yield* Metrics.value(MetricCatalogue.llmTokensUsedTotal, { ...base, type: "prompt" }),
        3000,
      )
      assert.equal(
        yield* Metrics.value(MetricCatalogue.llmTokensUsedTotal, { ...base, type: "completion" }),
        500,
      )
      const cost = yield* Metrics.value(MetricCatalogue.llmCostDollarsTotal, base)
      assert.ok(Math.abs(cost! - 0.12) < 1e-12, String(cost))
      const duration = yield* Metrics.value(MetricCatalogue.llmRequestDuration, base)
      assert.equal(duration?.count, 4)
      assert.equal(duration?.sum, 2)
      assert.equal(yield* dropped("llm_tokens_used_total", "invalid_usage"), 1)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "cacheMetrics counts hits and misses from [value, hit] or { hit } results",
  () =>
    Effect.gen(function* () {
      const tuple = (hit: boolean) => Effect.succeed(["v", hit] as const).pipe(Metrics.cacheMetrics("kb"))
      assert.deepEqual(yield* tuple(true), ["v", true])
      yield* tuple(false)
      yield* tuple(true)
      yield* Metrics.cacheMetrics(Effect.succeed({ value: 1, hit: false }), "kb")
      // deno-lint-ignore no-explicit-any
      yield* Metrics.cacheMetrics(Effect.succeed({ value: 1 } as any), "kb")
      assert.equal(yield* Metrics.value(MetricCatalogue.ragCacheHitsTotal, { cache: "kb" }), 2)
      assert.equal(yield* Metrics.value(MetricCatalogue.ragCacheMissesTotal, { cache: "kb" }), 2)
      assert.equal(yield* dropped("rag_cache_hits_total", "invalid_cache_result"), 1)
    }).pipe(Effect.provide(layer())),
)

Deno.test("wrappers add no error and no requirement (type-checked)", () => {
  const self: Effect.Effect<number, "e"> = Effect.fail("e")
  const cached: Effect.Effect<readonly [number, boolean], "e"> = Effect.fail("e")
  const tracked: Array<Effect.Effect<number, "e">> = [
    self.pipe(Metrics.track("x")),
    self.pipe(Metrics.measureLatency(latency, { route: "/" })),
    self.pipe(Metrics.countCalls(plain)),
    self.pipe(
      Metrics.trackLlmUsage({
        provider: "p",
        model: "m",
        usage: (n: number) => ({ promptTokens: n, completionTokens: 0 }),
      }),
    ),
  ]
  const cache: Effect.Effect<readonly [number, boolean], "e"> = cached.pipe(Metrics.cacheMetrics("c"))
  assert.equal(tracked.length + (Effect.isEffect(cache) ? 1 : 0), 5)
})

effectTest(
  "a user's system_cpu_usage_percent / system_memory_usage_bytes series win over the built-in sampler",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        yield* Metrics.set(MetricCatalogue.systemCpuUsagePercent, 55)
        yield* Metrics.set(MetricCatalogue.systemMemoryUsageBytes, { type: "rss" }, 123)
        // A scrape refreshes the sampled series; the user's are left as the user set them.
        const text = yield* Prometheus.format()
        assert.match(text, /^system_cpu_usage_percent 55$/m)
        assert.match(text, /^system_memory_usage_bytes\{type="rss"\} 123$/m)
        assert.match(text, /^system_memory_usage_bytes\{type="heap_used"\} [1-9]\d*$/m)
        yield* Metrics.set(MetricCatalogue.systemCpuUsagePercent, 60)
        assert.match(yield* Prometheus.format(), /^system_cpu_usage_percent 60$/m)
      }).pipe(Effect.provide(Metrics.layer()))
    }),
)
