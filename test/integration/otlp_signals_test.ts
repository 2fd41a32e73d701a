/**
 * OTLP metrics (Effect's metric registry of the layer) and logs (Effect's logger) to a real loopback
 * receiver, in both encodings.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Exporter, Request, Stage, Telemetry } from "../../mod.ts"
import { startReceiver } from "./_otlp_receiver.ts"

const requests = Metric.counter("app_requests", { description: "Requests handled", incremental: true })
const latency = Metric.histogram("app_latency_ms", { boundaries: [10, 100, 1000] })
const queueDepth = Metric.gauge("app_queue_depth")

const program = Effect.gen(function* () {
  yield* Metric.update(Metric.withAttributes(requests, { route: "/chat" }), 3)
  yield* Metric.update(latency, 5)
  yield* Metric.update(latency, 50)
  yield* Metric.update(latency, 5000)
  yield* Metric.update(queueDepth, 7.5)
  yield* Effect.logInfo("answered").pipe(
    Effect.annotateLogs({ "user.tier": "pro" }),
    Stage.track("llm_request"),
    Request.track("chat"),
  )
  yield* Effect.logWarning("outside any request")
})

for (const protocol of ["http/protobuf", "http/json"] as const) {
  Deno.test(`Exporter.otlp() ${protocol} exports the layer's metrics and logs`, async () => {
    const receiver = startReceiver()
    try {
      await Effect.runPromise(
        program.pipe(
          Effect.provide(
            Telemetry.layer({
              serviceName: "signals",
              exporters: [
                Exporter.otlp({
                  endpoint: receiver.url,
                  protocol,
                  signals: ["metrics", "logs"],
                  scheduleDelay: "20 millis",
                  metricExportInterval: "1 hour",
                }),
              ],
            }),
          ),
          Effect.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
        ),
      )
      assert.deepEqual(receiver.errors, [])
      const metrics = receiver.metrics()
      const counter = metrics.get("app_requests")
      assert.ok(counter, `app_requests arrived (got ${[...metrics.keys()]})`)
      assert.equal(counter.description, "Requests handled")
      assert.equal(counter.sum.isMonotonic, true)
      assert.equal(counter.sum.aggregationTemporality, 2)
      assert.equal(Number(counter.sum.dataPoints[0].asInt ?? counter.sum.dataPoints[0].asDouble), 3)
      assert.deepEqual(counter.sum.dataPoints[0].attributes, [{
        key: "route",
        value: { stringValue: "/chat" },
      }])
      const histogram = metrics.get("app_latency_ms").histogram.dataPoints[0]
      assert.equal(Number(histogram.count), 3)
      assert.deepEqual(histogram.explicitBounds, [10, 100, 1000])
      assert.deepEqual(histogram.bucketCounts.map(Number), [1, 1, 0, 1])
      assert.equal(histogram.sum, 5055)
      assert.equal(metrics.get("app_queue_depth").gauge.dataPoints[0].asDouble, 7.5)
      assert.ok(metrics.has("stagetrace_export_dropped_total"), "self-metrics are exported too")

      const logs = receiver.logs()
      const answered = logs.find((l) => l.body === "answered")
      assert.ok(answered, JSON.stringify(logs))
      assert.equal(answered.severityText, "INFO")
      assert.equal(answered.attributes["user.tier"], "pro")
      assert.equal(answered.traceId?.length, 32, "the record carries the current trace id")
      const outside = logs.find((l) => l.body === "outside any request")
      assert.equal(outside?.severityText, "WARN")
      assert.equal(outside?.traceId, undefined)
    } finally {
      await receiver.close()
    }
  })
}
