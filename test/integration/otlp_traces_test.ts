/**
 * OTLP trace export to a real loopback receiver: exactly-once delivery with parent links, in both
 * encodings and through both implementations; no self-instrumentation.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Exporter, Request, Stage, Telemetry } from "../../mod.ts"
import { type ReceivedSpan, startReceiver } from "./_otlp_receiver.ts"

const requests = 20

/** Twenty concurrent requests, each with nested stages and one failing stage every fifth request. */
const workload = Effect.forEach(
  Array.from({ length: requests }, (_, i) => i),
  (i) =>
    Effect.gen(function* () {
      yield* Effect.void.pipe(Stage.track("auth_check"))
      yield* Effect.sleep("1 millis").pipe(
        Stage.track("embed"),
        Stage.track("retrieve", { metadata: { "kb.docs": 3 } }),
      )
      if (i % 5 === 0) yield* Effect.fail("model overloaded").pipe(Stage.track("llm_request"), Effect.ignore)
      else yield* Effect.void.pipe(Stage.track("llm_request"))
    }).pipe(Request.track("chat", { requestId: `r-${i}`, attributes: { "user.tier": "pro" } })),
  { concurrency: 5, discard: true },
)

const run = (exporters: ReadonlyArray<Exporter.Exporter>) =>
  Effect.runPromise(
    workload.pipe(
      Effect.provide(Telemetry.layer({ serviceName: "it-service", serviceVersion: "1.2.3", exporters })),
      Effect.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
    ),
  )

const checkTree = (spans: ReadonlyArray<ReceivedSpan>) => {
  // 20 requests × (request + auth + retrieve + embed + llm) spans, each exactly once.
  assert.equal(spans.length, requests * 5)
  const byId = new Map(spans.map((s) => [s.spanId, s]))
  assert.equal(byId.size, spans.length, "every span arrives exactly once")
  const roots = spans.filter((s) => s.name === "chat")
  assert.equal(roots.length, requests)
  for (const root of roots) assert.equal(root.parentSpanId, undefined)
  for (const span of spans) {
    if (span.name === "chat") continue
    const parent = byId.get(span.parentSpanId!)
    assert.ok(parent, `parent of ${span.name} arrived`)
    assert.equal(parent.traceId, span.traceId)
    const expected = span.name === "embed" ? "retrieve" : "chat"
    assert.equal(parent.name, expected)
    assert.equal(span.attributes["request.id"], parent.attributes["request.id"])
  }
  const failed = spans.filter((s) => s.name === "llm_request" && s.statusCode === 2)
  assert.equal(failed.length, requests / 5)
  assert.equal(failed[0]!.statusMessage, "model overloaded")
  assert.equal(spans.find((s) => s.name === "retrieve")!.attributes["kb.docs"], 3)
  assert.equal(spans[0]!.resource["service.name"], "it-service")
  assert.equal(spans[0]!.resource["service.version"], "1.2.3")
  // No span for the exporter's own HTTP calls.
  assert.ok(spans.every((s) => !/^(GET|POST)\b/.test(s.name) && s.attributes["url.full"] === undefined))
}

for (const protocol of ["http/protobuf", "http/json"] as const) {
  for (const implementation of ["effect", "otel-sdk"] as const) {
    Deno.test(`Exporter.otlp() ${implementation} ${protocol}: every span arrives exactly once with its parent`, async () => {
      const receiver = startReceiver()
      try {
        const memory = Exporter.memory()
        await run([
          Exporter.otlp({
            endpoint: receiver.url,
            protocol,
            implementation,
            signals: ["traces"],
            scheduleDelay: "20 millis",
            maxExportBatchSize: 16,
          }),
          memory,
        ])
        assert.deepEqual(receiver.errors, [])
        const expected = protocol === "http/json" ? "application/json" : "application/x-protobuf"
        assert.ok(receiver.requests.every((r) => r.contentType.startsWith(expected)))
        const spans = receiver.spans()
        checkTree(spans)
        // What arrived is exactly what the memory exporter saw.
        assert.deepEqual(
          new Set(spans.map((s) => s.spanId)),
          new Set(memory.spans().map((s) => s.spanId)),
        )
      } finally {
        await receiver.close()
      }
    })
  }
}

Deno.test("Exporter.otlp() gzip compression and headers reach the receiver", async () => {
  const receiver = startReceiver()
  try {
    await run([
      Exporter.otlp({
        endpoint: receiver.url,
        compression: "gzip",
        headers: { "x-api-key": "k-123" },
        signals: ["traces"],
        scheduleDelay: "20 millis",
      }),
    ])
    assert.ok(receiver.requests.length > 0)
    assert.ok(receiver.requests.every((r) => r.contentEncoding === "gzip"))
    assert.ok(receiver.requests.every((r) => r.headers.get("x-api-key") === "k-123"))
    checkTree(receiver.spans())
  } finally {
    await receiver.close()
  }
})

Deno.test("Exporter.otlp() tracesEndpoint is used as it is", async () => {
  const receiver = startReceiver()
  try {
    await run([
      Exporter.otlp({
        endpoint: "http://127.0.0.1:9",
        tracesEndpoint: `${receiver.url}/v1/traces`,
        signals: ["traces"],
        scheduleDelay: "20 millis",
      }),
    ])
    checkTree(receiver.spans())
  } finally {
    await receiver.close()
  }
})

Deno.test("Telemetry.layerFromEnv() exports OTLP from OTEL_* variables in addition to the given exporters", async () => {
  const receiver = startReceiver()
  try {
    const memory = Exporter.memory()
    await Effect.runPromise(
      workload.pipe(
        Effect.provide(
          Telemetry.layerFromEnv({
            env: {
              OTEL_SERVICE_NAME: "from-env",
              OTEL_RESOURCE_ATTRIBUTES: "team=obs,region=eu%2Dwest",
              OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
              OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
              OTEL_BSP_SCHEDULE_DELAY: "20",
              OTEL_METRICS_EXPORTER: "none",
              OTEL_LOGS_EXPORTER: "none",
            },
            exporters: [memory],
          }),
        ),
        Effect.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
      ),
    )
    const spans = receiver.spans()
    assert.equal(spans.length, requests * 5)
    assert.equal(memory.spans().length, requests * 5)
    assert.equal(spans[0]!.resource["service.name"], "from-env")
    assert.equal(spans[0]!.resource["team"], "obs")
    assert.equal(spans[0]!.resource["region"], "eu-west")
    assert.ok(receiver.requests.every((r) => r.path === "/v1/traces"))
  } finally {
    await receiver.close()
  }
})
