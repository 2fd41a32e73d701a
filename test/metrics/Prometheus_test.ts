import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { MetricCatalogue, Metrics, Prometheus } from "../../mod.ts"
import { effectTest, liveTest } from "../_harness.ts"

const layer = () => Metrics.layer({ systemMetrics: false })

const requests = Metrics.defineUnsafe({
  name: "app_requests_total",
  type: "counter",
  description: 'Requests with "quotes", a \\ backslash\nand a newline',
  labels: ["route"],
})
const cost = Metrics.defineUnsafe({
  name: "app_cost_dollars_total",
  type: "counter",
  description: "Cost",
  unit: "dollars",
})
const size = Metrics.defineUnsafe({
  name: "app_payload_bytes",
  type: "histogram",
  description: "Payload size",
  unit: "bytes",
  buckets: [100, 1000, 10_000.5],
})

const record = Effect.gen(function* () {
  yield* Metrics.increment(requests, { route: 'a"b\\c\nd' }, 2)
  yield* Metrics.increment(cost, 0.25)
  yield* Metrics.observe(size, 50)
  yield* Metrics.observe(size, 500)
  yield* Metrics.observe(size, 50_000)
})

effectTest(
  "the text format has HELP, TYPE and UNIT, _total, cumulative buckets and escaped values",
  () =>
    Effect.gen(function* () {
      yield* record
      const text = yield* Prometheus.format("text")
      assert.equal(
        text,
        [
          '# HELP app_requests_total Requests with "quotes", a \\\\ backslash\\nand a newline',
          "# TYPE app_requests_total counter",
          'app_requests_total{route="a\\"b\\\\c\\nd"} 2',
          "# HELP app_cost_dollars_total Cost",
          "# TYPE app_cost_dollars_total counter",
          "# UNIT app_cost_dollars_total dollars",
          "app_cost_dollars_total 0.25",
          "# HELP app_payload_bytes Payload size",
          "# TYPE app_payload_bytes histogram",
          "# UNIT app_payload_bytes bytes",
          'app_payload_bytes_bucket{le="100"} 1',
          'app_payload_bytes_bucket{le="1000"} 2',
          'app_payload_bytes_bucket{le="10000.5"} 2',
          'app_payload_bytes_bucket{le="+Inf"} 3',
          "app_payload_bytes_sum 50550",
          "app_payload_bytes_count 3",
          "",
        ].join("\n"),
      )
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "OpenMetrics names counter families without _total, uses canonical floats and ends in # EOF",
  () =>
    Effect.gen(function* () {
      yield* record
      const text = yield* Prometheus.format("openmetrics")
      assert.equal(
        text,
        [
          "# TYPE app_requests counter",
          '# HELP app_requests Requests with \\"quotes\\", a \\\\ backslash\\nand a newline',
          'app_requests_total{route="a\\"b\\\\c\\nd"} 2',
          "# TYPE app_cost_dollars counter",
          "# UNIT app_cost_dollars dollars",
          "# HELP app_cost_dollars Cost",
          "app_cost_dollars_total 0.25",
          "# TYPE app_payload_bytes histogram",
          "# UNIT app_payload_bytes bytes",
          "# HELP app_payload_bytes Payload size",
          'app_payload_bytes_bucket{le="100.0"} 1',
          'app_payload_bytes_bucket{le="1000.0"} 2',
          'app_payload_bytes_bucket{le="10000.5"} 2',
          'app_payload_bytes_bucket{le="+Inf"} 3',
          "app_payload_bytes_sum 50550",
          "app_payload_bytes_count 3",
          "# EOF",
          "",
        ].join("\n"),
      )
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "other metrics of the registry are rendered with the same conventions",
  () =>
    Effect.gen(function* () {
      yield* Metric.update(Metric.counter("jobs_done", { description: "Jobs", incremental: true }), 3)
      yield* Metric.update(Metric.counter("balance", { description: "Up and down" }), -2)
      yield* Metric.update(Metric.counter("already_total", {}), 1)
      yield* Metric.update(
        Metric.withAttributes(Metric.gauge("temp", { description: "T" }), { "room.name": "a b" }),
        21,
      )
      yield* Metric.update(
        Metric.withAttributes(Metric.histogram("op_ms", { boundaries: [1, 10] }), { unit: "milliseconds" }),
        5,
      )
      yield* Metric.update(Metric.frequency("outcome", { description: "Outcomes" }), "ok")
      yield* Metric.update(
        Metric.summary("sizes", { maxAge: "1 minute", maxSize: 10, quantiles: [0.5] }),
        4,
      )
      // Same name and type as one of ours: ours wins, the other is skipped (and counted).
      yield* Metric.update(Metric.counter("app_requests_total", { incremental: true }), 1)
      yield* Metrics.increment(requests, { route: "/" })
      const text = yield* Prometheus.format("text")
      assert.match(text, /# HELP jobs_done_total Jobs\n# TYPE jobs_done_total counter\njobs_done_total 3\n/)
      assert.match(text, /# HELP balance Up and down\n# TYPE balance gauge\nbalance -2\n/)
      assert.match(text, /# TYPE already_total counter\nalready_total 1\n/)
      assert.match(text, /# TYPE temp gauge\ntemp\{room_name="a b"\} 21\n/)
      assert.match(
        text,
        /op_ms_bucket\{le="10"\} 1\nop_ms_bucket\{le="\+Inf"\} 1\nop_ms_sum 5\nop_ms_count 1\n/,
      )
      assert.match(text, /# TYPE outcome_total counter\noutcome_total\{key="ok"\} 1\n/)
      assert.match(text, /# TYPE sizes summary\nsizes\{quantile="0.5"\} 4\nsizes_sum 4\nsizes_count 1\n/)
      assert.equal(text.match(/^# TYPE app_requests_total/gm)?.length, 1)
      assert.equal(
        yield* Metrics.value(MetricCatalogue.metricDroppedSamples, {
          metric: "app_requests_total",
          reason: "name_conflict",
        }),
        1,
      )
      const om = yield* Prometheus.format("openmetrics")
      assert.match(om, /# TYPE jobs_done counter\n# HELP jobs_done Jobs\njobs_done_total 3\n/)
      assert.match(om, /op_ms_bucket\{le="10.0"\} 1\n/)
    }).pipe(Effect.provide(layer())),
)

Deno.test("Prometheus.negotiate() follows the Accept header's preferences", () => {
  const cases: Array<[string | null, Prometheus.Format]> = [
    [null, "text"],
    ["", "text"],
    ["*/*", "text"],
    ["text/plain;version=0.0.4", "text"],
    ["application/openmetrics-text", "openmetrics"],
    ["application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9", "text"],
    ["application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5", "openmetrics"],
    ["application/openmetrics-text;q=0", "text"],
    ["APPLICATION/OPENMETRICS-TEXT; version=0.0.1 ; q=0.4, */*;q=0.2", "openmetrics"],
    [
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," +
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      "openmetrics",
    ],
  ]
  for (const [accept, expected] of cases) assert.equal(Prometheus.negotiate(accept), expected, String(accept))
})

effectTest(
  "the handler negotiates the format, answers HEAD, and refuses other methods",
  () =>
    Effect.gen(function* () {
      yield* record
      const handle = yield* Prometheus.handler()
      const text = yield* Effect.promise(() => handle(new Request("http://x/metrics")))
      assert.equal(text.status, 200)
      assert.equal(text.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
      assert.match(yield* Effect.promise(() => text.text()), /app_cost_dollars_total 0.25/)
      const om = yield* Effect.promise(() =>
        handle(
          new Request("http://x/metrics", {
            headers: { accept: "application/openmetrics-text;version=1.0.0" },
          }),
        )
      )
      assert.equal(
        om.headers.get("content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
      )
      assert.ok((yield* Effect.promise(() => om.text())).endsWith("# EOF\n"))
      const head = yield* Effect.promise(() => handle(new Request("http://x/metrics", { method: "HEAD" })))
      assert.equal(head.status, 200)
      assert.equal(head.body, null)
      const post = yield* Effect.promise(() =>
        handle(new Request("http://x/metrics", { method: "POST", body: "x" }))
      )
      assert.equal(post.status, 405)
      assert.equal(post.headers.get("allow"), "GET, HEAD")
      yield* Effect.promise(() => post.body!.cancel())
      const fixed = yield* Prometheus.handler({ format: "openmetrics" })
      const forced = yield* Effect.promise(() => fixed(new Request("http://x/metrics")))
      assert.ok((yield* Effect.promise(() => forced.text())).endsWith("# EOF\n"))
    }).pipe(Effect.provide(layer())),
)

effectTest("with a bearer token, only requests carrying it are served", () =>
  Effect.gen(function* () {
    const handle = yield* Prometheus.handler({ bearerToken: Redacted.make("t0ken") })
    const statusWith = (authorization?: string) =>
      Effect.promise(async () => {
        const response = await handle(
          new Request("http://x/metrics", authorization === undefined ? {} : { headers: { authorization } }),
        )
        await response.body?.cancel()
        return [response.status, response.headers.get("www-authenticate")]
      })
    assert.deepEqual(yield* statusWith(), [401, 'Bearer realm="metrics"'])
    assert.deepEqual(yield* statusWith("Bearer t0ke"), [401, 'Bearer realm="metrics"'])
    assert.deepEqual(yield* statusWith("Bearer t0kenX"), [401, 'Bearer realm="metrics"'])
    assert.deepEqual(yield* statusWith("Basic t0ken"), [401, 'Bearer realm="metrics"'])
    assert.deepEqual(yield* statusWith("Bearer t0ken"), [200, null])
  }).pipe(Effect.provide(layer())))

effectTest(
  "invalid handler and server options are TelemetryConfigErrors naming the option",
  () =>
    Effect.gen(function* () {
      const handlerError = yield* Effect.flip(Prometheus.handler({ bearerToken: "has space" }))
      assert.equal(handlerError.name, "bearerToken")
      assert.equal(handlerError.value, "<redacted>")
      const formatError = yield* Effect.flip(
        Prometheus.handler({ format: "xml" as unknown as Prometheus.FormatChoice }),
      )
      assert.equal(formatError.name, "format")
      for (
        const [options, name] of [
          [{ port: 70000 }, "port"],
          [{ port: 1.5 }, "port"],
          [{ hostname: "" }, "hostname"],
          [{ path: "metrics" }, "path"],
        ] as const
      ) {
        const error = yield* Effect.flip(Layer.build(Prometheus.layerServer(options)))
        assert.equal(error._tag, "TelemetryConfigError")
        assert.equal(error.name, name)
      }
    }).pipe(Effect.provide(layer())),
)

liveTest("layerServer serves /metrics on 127.0.0.1 for the life of the layer", () =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Prometheus.layerServer({ port: 0 }).pipe(Layer.provideMerge(layer())),
      scope,
    )
    yield* Metrics.increment(cost, 1.5).pipe(Effect.provide(context))
    const address = yield* Prometheus.serverAddress.pipe(Effect.provide(context))
    assert.equal(address?.hostname, "127.0.0.1")
    assert.equal(address?.url, `http://127.0.0.1:${address?.port}/metrics`)
    const body = yield* Effect.promise(() => fetch(address!.url).then((r) => r.text()))
    assert.match(body, /^app_cost_dollars_total 1.5$/m)
    const other = yield* Effect.promise(() => fetch(`http://127.0.0.1:${address!.port}/other`))
    assert.equal(other.status, 404)
    yield* Effect.promise(() => other.body!.cancel())
    yield* Scope.close(scope, Exit.void)
    const after = yield* Effect.promise(() => fetch(address!.url).then(() => "connected", () => "refused"))
    assert.equal(after, "refused")
    assert.equal(yield* Prometheus.serverAddress.pipe(Effect.provide(context)), undefined)
  }))

liveTest(
  "a port that is already taken fails the layer with a TelemetryConfigError",
  () =>
    Effect.gen(function* () {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 })
      yield* Effect.addFinalizer(() => Effect.sync(() => listener.close()))
      const port = (listener.addr as Deno.NetAddr).port
      const error = yield* Effect.flip(
        Layer.build(Prometheus.layerServer({ port }).pipe(Layer.provide(layer()))),
      )
      assert.equal(error.name, "port")
      assert.equal(error.value, port)
      assert.match(error.message, /Cannot listen on 127\.0\.0\.1:\d+: AddrInUse/)
    }),
)

effectTest(
  "other metrics whose names collide are rendered once per family in both formats, the rest counted",
  () =>
    Effect.gen(function* () {
      // A counter `requests` is exposed as `requests_total` (family `requests` in OpenMetrics), like a gauge
      // named `requests`: OpenMetrics would see the family twice.
      yield* Metric.update(Metric.counter("requests", { incremental: true }), 1)
      yield* Metric.update(Metric.gauge("requests"), 5)
      // `queue.depth` and `queue_depth` sanitize to one name with two types.
      yield* Metric.update(Metric.gauge("queue.depth"), 2)
      yield* Metric.update(Metric.histogram("queue_depth", { boundaries: [1] }), 1)
      const om = yield* Prometheus.format("openmetrics")
      assert.equal(om.match(/^# TYPE requests /gm)?.length, 1, om)
      assert.equal(om.match(/^# TYPE queue_depth /gm)?.length, 1, om)
      const text = yield* Prometheus.format("text")
      assert.equal(text.match(/^# TYPE queue_depth /gm)?.length, 1, text)
      const dropped = yield* Metrics.value(MetricCatalogue.metricDroppedSamples, {
        metric: "queue_depth",
        reason: "name_conflict",
      })
      assert.ok(typeof dropped === "number" && dropped >= 1, String(dropped))
      assert.ok(
        typeof (yield* Metrics.value(MetricCatalogue.metricDroppedSamples, {
          metric: "requests",
          reason: "name_conflict",
        })) === "number",
      )
    }).pipe(Effect.provide(layer())),
)
