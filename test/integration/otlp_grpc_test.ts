/**
 * `Exporter.otlp({ protocol: "grpc" })` against a real HTTP/2 gRPC receiver on loopback, in both
 * directions of failure: the receiver answering error statuses (with and without `RetryInfo`), dropping
 * the connection mid-call, stalling past the timeout (the client cancels), answering as a non-gRPC proxy,
 * or being down; and the client sending gzip, metadata, `grpc-timeout`, over cleartext and TLS, for all
 * three signals. Every span is received exactly once or counted as dropped, never both, never neither.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Exporter, Health, Request, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { ExportStatsSlot, type ExportStatsSnapshot } from "../../src/internal/slots.ts"
import { downUrl } from "./_otlp_receiver.ts"
import { GrpcReceiver, type GrpcReceiverOptions } from "./_otlp_grpc_receiver.ts"

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname

/** `count` requests of one stage each (2 spans per request), then the export counters. */
const workload = (count: number) =>
  Effect.gen(function* () {
    yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => Effect.void.pipe(Stage.track("step"), Request.track("job", { requestId: `j-${i}` })),
      { discard: true },
    )
    const recorder = yield* CurrentRecorder
    return recorder.get(ExportStatsSlot)!
  })

const run = <A>(program: Effect.Effect<A, never, never>, options: Parameters<typeof Telemetry.layer>[0]) =>
  Effect.runPromise(
    program.pipe(
      Effect.provide(Telemetry.layer(options)),
      Effect.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
    ),
  )

const grpc = (endpoint: string, options: Exporter.OtlpOptions = {}) =>
  Exporter.otlp({ protocol: "grpc", endpoint, signals: ["traces"], scheduleDelay: "10 millis", ...options })

const dropped = (stats: ExportStatsSnapshot, reason: string) => stats.dropped[`traces:${reason}`] ?? 0

const withReceiver = async (
  options: GrpcReceiverOptions,
  body: (receiver: GrpcReceiver) => Promise<void>,
): Promise<void> => {
  const receiver = await GrpcReceiver.start(options)
  try {
    await body(receiver)
    assert.deepEqual(receiver.errors, [], "the receiver decoded every call")
  } finally {
    await receiver.close()
  }
}

// ---------------------------------------------------------------------------------------------------------
// The client's side: what it sends
// ---------------------------------------------------------------------------------------------------------

Deno.test("Exporter.otlp() grpc exports traces, metrics and logs over one HTTP/2 connection", () =>
  withReceiver({}, async (receiver) => {
    const requests = Metric.counter("app_requests", { incremental: true })
    await run(
      Effect.gen(function* () {
        yield* Metric.update(Metric.withAttributes(requests, { route: "/chat" }), 3)
        yield* Effect.logInfo("answered").pipe(
          Effect.annotateLogs({ "user.tier": "pro" }),
          Stage.track("llm_request"),
          Request.track("chat"),
        )
      }),
      {
        serviceName: "grpc-signals",
        exporters: [
          Exporter.otlp({
            protocol: "grpc",
            endpoint: receiver.url,
            headers: { "X-Api-Key": "secret", tenant: "t1" },
            timeout: "7 seconds",
            metricExportInterval: "1 hour",
          }),
        ],
      },
    )
    assert.deepEqual(receiver.errors, [])
    assert.equal(receiver.connections, 1, "one long-lived connection for every signal")
    const [stage, request] = receiver.spans()
    assert.equal(stage?.name, "llm_request")
    assert.equal(request?.name, "chat")
    assert.equal(stage?.parentSpanId, request?.spanId)
    assert.equal(request?.resource["service.name"], "grpc-signals")
    const counter = receiver.metrics().get("app_requests")
    assert.equal(Number(counter?.sum.dataPoints[0].asInt ?? counter?.sum.dataPoints[0].asDouble), 3)
    const answered = receiver.logs().find((l) => l.body === "answered")
    assert.equal(answered?.attributes["user.tier"], "pro")
    assert.equal(answered?.traceId, request?.traceId)

    const paths = new Set(receiver.calls.map((c) => c.path))
    assert.deepEqual([...paths].sort(), [
      "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
      "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
      "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    ])
    for (const call of receiver.calls) {
      assert.equal(call.headers["x-api-key"], "secret", "headers travel as metadata (lowercased)")
      assert.equal(call.headers["tenant"], "t1")
      assert.equal(call.headers["te"], "trailers")
      assert.equal(call.headers["content-type"], "application/grpc")
      assert.match(String(call.headers["grpc-timeout"]), /^\d{1,8}m$/)
      assert.ok(
        Number(String(call.headers["grpc-timeout"]).slice(0, -1)) <= 7000,
        "from the exporter timeout",
      )
      assert.equal(call.compressed, false)
      assert.equal(call.headers["grpc-encoding"], undefined)
    }
  }))

Deno.test("Exporter.otlp() grpc gzip: messages compressed with grpc-encoding, gzip answers read", () =>
  withReceiver({ compressAnswers: true, rejectFirst: 2 }, async (receiver) => {
    const stats = await run(workload(5), {
      exporters: [grpc(receiver.url, { compression: "gzip" })],
    })
    assert.deepEqual(receiver.errors, [])
    assert.equal(receiver.calls.length, 1)
    assert.equal(receiver.calls[0]!.compressed, true)
    assert.equal(receiver.calls[0]!.headers["grpc-encoding"], "gzip")
    assert.equal(receiver.spans().length, 10)
    // The partial success came back gzipped: it was decompressed and counted.
    assert.equal(dropped(stats(), "rejected"), 2)
    assert.equal(stats().exported["traces"], 8)
    assert.match(stats().lastError ?? "", /partial success: 2 rejected \(too old\)/)
  }))

Deno.test("Exporter.otlp() grpc over TLS trusts the given certificate", async () => {
  const cert = await Deno.readTextFile(fixture("grpc_tls_cert.pem"))
  const key = await Deno.readTextFile(fixture("grpc_tls_key.pem"))
  await withReceiver({ tls: { cert, key } }, async (receiver) => {
    assert.match(receiver.url, /^https:/)
    const stats = await run(workload(3), { exporters: [grpc(receiver.url, { certificate: cert })] })
    assert.deepEqual(receiver.errors, [])
    assert.equal(receiver.spans().length, 6)
    assert.equal(stats().failures, 0)
  })
})

Deno.test("Exporter.otlp() grpc over TLS refuses an untrusted certificate, retried then counted", async () => {
  const cert = await Deno.readTextFile(fixture("grpc_tls_cert.pem"))
  const key = await Deno.readTextFile(fixture("grpc_tls_key.pem"))
  await withReceiver({ tls: { cert, key } }, async (receiver) => {
    const stats = await run(workload(1), {
      shutdownTimeout: "300 millis",
      exporters: [grpc(receiver.url)],
    })
    assert.equal(receiver.calls.length, 0)
    assert.equal(dropped(stats(), "export_failed") + dropped(stats(), "shutdown"), 2)
    assert.match(stats().lastError ?? "", /UNAVAILABLE.*certificate/i)
  })
})

// ---------------------------------------------------------------------------------------------------------
// The receiver's side: what it answers
// ---------------------------------------------------------------------------------------------------------

Deno.test("Exporter.otlp() grpc retries UNAVAILABLE and delivers once", () =>
  withReceiver({ script: [{ code: 14, message: "warming up" }] }, async (receiver) => {
    const stats = await run(workload(5), { exporters: [grpc(receiver.url)] })
    assert.deepEqual(receiver.calls.map((c) => c.answer), ["14", "ok"])
    assert.equal(receiver.spans().length, 10)
    assert.equal(new Set(receiver.spans().map((s) => s.spanId)).size, 10)
    assert.equal(stats().exported["traces"], 10)
    assert.deepEqual(stats().dropped, {})
  }))

for (
  const [name, code] of [
    ["CANCELLED", 1],
    ["DEADLINE_EXCEEDED", 4],
    ["ABORTED", 10],
    ["OUT_OF_RANGE", 11],
    ["DATA_LOSS", 15],
  ] as const
) {
  Deno.test(`Exporter.otlp() grpc retries ${name}`, () =>
    withReceiver({ script: [{ code }] }, async (receiver) => {
      await run(workload(1), { exporters: [grpc(receiver.url)] })
      assert.deepEqual(receiver.calls.map((c) => c.answer), [String(code), "ok"])
      assert.equal(receiver.spans().length, 2)
    }))
}

Deno.test("Exporter.otlp() grpc honours RetryInfo: a delay past the export timeout gives up at once", () =>
  withReceiver({ script: [{ code: 14, message: "overloaded", retryDelayMs: 60_000 }] }, async (receiver) => {
    // Without RetryInfo the same answer is retried (at shutdown, at once) and delivered: see the test above.
    const stats = await run(workload(1), { exporters: [grpc(receiver.url, { exportTimeout: "5 seconds" })] })
    assert.equal(receiver.calls.length, 1, "not retried before the server's retry_delay")
    assert.equal(dropped(stats(), "export_failed") + dropped(stats(), "shutdown"), 2)
    assert.match(stats().lastError ?? "", /gRPC UNAVAILABLE \(14\): overloaded/)
  }))

Deno.test("Exporter.otlp() grpc retries RESOURCE_EXHAUSTED only with RetryInfo", async () => {
  await withReceiver(
    { script: [{ code: 8, message: "slow down", retryDelayMs: 50 }] },
    async (receiver) => {
      const stats = await run(workload(1), { exporters: [grpc(receiver.url)] })
      assert.deepEqual(receiver.calls.map((c) => c.answer), ["8", "ok"])
      assert.equal(stats().exported["traces"], 2)
    },
  )
  await withReceiver({ script: [{ code: 8, message: "too big" }] }, async (receiver) => {
    const stats = await run(workload(1), { exporters: [grpc(receiver.url)] })
    assert.equal(receiver.calls.length, 1, "not retried")
    assert.equal(dropped(stats(), "rejected_resource_exhausted"), 2)
  })
})

for (
  const [name, code] of [
    ["UNAUTHENTICATED", 16],
    ["PERMISSION_DENIED", 7],
    ["INVALID_ARGUMENT", 3],
    ["UNIMPLEMENTED", 12],
    ["INTERNAL", 13],
    ["UNKNOWN", 2],
  ] as const
) {
  Deno.test(`Exporter.otlp() grpc drops ${name} without retrying, named in the drop reason and health`, () =>
    withReceiver({ script: [{ code, message: "nope: 100%" }] }, async (receiver) => {
      const report = await run(
        Effect.andThen(workload(1), (stats) => Effect.map(Health.check, (health) => ({ stats, health })))
          .pipe(
            // Let the batch go out before the health check reads the counters.
            Effect.andThen((first) => Effect.as(Effect.sleep("300 millis"), first)),
            Effect.andThen(({ stats }) => Effect.map(Health.check, (health) => ({ stats, health }))),
          ),
        { exporters: [grpc(receiver.url)] },
      )
      assert.equal(receiver.calls.length, 1, "not retried")
      const reason = `rejected_${name.toLowerCase()}`
      assert.deepEqual(report.stats().dropped, { [`traces:${reason}`]: 2 })
      assert.equal(report.stats().exported["traces"] ?? 0, 0)
      assert.equal(report.health.checks.exporter.status, "warning")
      assert.match(
        report.health.checks.exporter.message,
        new RegExp(`gRPC ${name} \\(${code}\\): nope: 100%`),
      )
    }))
}

Deno.test("Exporter.otlp() grpc retries on a new connection after the receiver drops it mid-call", () =>
  withReceiver({ script: ["drop"] }, async (receiver) => {
    const stats = await run(workload(5), { exporters: [grpc(receiver.url)] })
    assert.deepEqual(receiver.calls.map((c) => c.answer), ["drop", "ok"])
    assert.equal(receiver.connections, 2, "reconnected")
    assert.equal(receiver.spans().length, 10)
    assert.deepEqual(stats().dropped, {})
    assert.ok(stats().failures === 0)
  }))

Deno.test("Exporter.otlp() grpc cancels a call stalled past its timeout, then retries and delivers", () =>
  withReceiver({ script: ["stall"] }, async (receiver) => {
    const stats = await run(workload(2), { exporters: [grpc(receiver.url, { timeout: "200 millis" })] })
    assert.deepEqual(receiver.calls.map((c) => c.answer), ["stall", "ok"])
    assert.equal(receiver.calls[0]!.headers["grpc-timeout"], "200m")
    assert.ok(receiver.calls[0]!.cancelled, "the client cancelled the stalled call")
    assert.equal(receiver.spans().length, 4)
    assert.deepEqual(stats().dropped, {})
  }))

Deno.test("Exporter.otlp() grpc maps a non-gRPC proxy's HTTP 503 to UNAVAILABLE (retried), 401 to UNAUTHENTICATED", async () => {
  await withReceiver({ script: [{ http: 503 }] }, async (receiver) => {
    await run(workload(1), { exporters: [grpc(receiver.url)] })
    assert.deepEqual(receiver.calls.map((c) => c.answer), ["http 503", "ok"])
    assert.equal(receiver.spans().length, 2)
  })
  await withReceiver({ script: [{ http: 401 }] }, async (receiver) => {
    const stats = await run(workload(1), { exporters: [grpc(receiver.url)] })
    assert.equal(receiver.calls.length, 1)
    assert.equal(dropped(stats(), "rejected_unauthenticated"), 2)
  })
})

Deno.test("Exporter.otlp() grpc counts a partial success as rejected and does not retry", () =>
  withReceiver({ rejectFirst: 3 }, async (receiver) => {
    const stats = await run(workload(5), { exporters: [grpc(receiver.url)] })
    assert.equal(receiver.calls.length, 1)
    assert.equal(dropped(stats(), "rejected"), 3)
    assert.equal(stats().exported["traces"], 7)
    assert.equal(stats().failures, 0)
  }))

Deno.test("Exporter.otlp() grpc with the receiver down: the program runs, memory stays within the queue, shutdown is bounded", async () => {
  const url = await downUrl()
  const stats = await run(workload(2_000), {
    shutdownTimeout: "1500 millis",
    exporters: [grpc(url, { maxQueueSize: 100, maxExportBatchSize: 50, maxConcurrentExports: 2 })],
  })
  const final = stats()
  assert.ok(final.queued === 0 && final.capacity === 100)
  // The bound: the queue plus maxConcurrentExports batches in flight.
  assert.ok(
    dropped(final, "queue_full") >= 4_000 - 100 - 2 * 50,
    "everything past the queue bound was dropped",
  )
  assert.equal(
    dropped(final, "queue_full") + dropped(final, "export_failed") + dropped(final, "shutdown"),
    4_000,
    "every span is accounted for",
  )
  assert.match(final.lastError ?? "", /gRPC UNAVAILABLE/)
})
