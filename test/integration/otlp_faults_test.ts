/**
 * The export pipeline against a misbehaving receiver: failing then recovering, throttling with
 * `Retry-After`, slow replies at shutdown, and a receiver that is down. Every span is either received
 * exactly once or counted as dropped, never both, never neither.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Exporter, Request, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { ExportStatsSlot, type ExportStatsSnapshot } from "../../src/internal/slots.ts"
import { downUrl, startReceiver } from "./_otlp_receiver.ts"

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

const run = (count: number, options: Parameters<typeof Telemetry.layer>[0]) =>
  Effect.runPromise(
    workload(count).pipe(
      Effect.provide(Telemetry.layer(options)),
      Effect.provide(Layer.succeed(Metric.MetricRegistry, new Map())),
    ),
  )

const dropped = (stats: ExportStatsSnapshot, reason: string) => stats.dropped[`traces:${reason}`] ?? 0

Deno.test("Exporter.otlp() loses nothing within the queue bound while the receiver fails then recovers", async () => {
  const receiver = startReceiver({ failFirst: 2 })
  try {
    const stats = await run(50, {
      shutdownTimeout: "10 seconds",
      exporters: [
        Exporter.otlp({
          endpoint: receiver.url,
          signals: ["traces"],
          maxQueueSize: 64,
          maxExportBatchSize: 16,
          scheduleDelay: "20 millis",
        }),
      ],
    })
    const final = stats()
    const spans = receiver.spans()
    const unique = new Set(spans.map((s) => s.spanId))
    assert.equal(unique.size, spans.length, "no duplicates after retries")
    assert.ok(receiver.requests.filter((r) => r.status === 503).length === 2)
    const queueFull = dropped(final, "queue_full")
    assert.ok(queueFull > 0, "the burst overflowed the queue while the receiver failed")
    assert.equal(spans.length + queueFull, 100, "received + dropped = produced")
    assert.ok(spans.length >= 64, "everything that fit in the queue arrived")
    assert.equal(final.exported["traces"], spans.length)
    assert.equal(dropped(final, "export_failed") + dropped(final, "shutdown"), 0)
  } finally {
    await receiver.close()
  }
})

Deno.test("Exporter.otlp() honours 429 Retry-After and then delivers", async () => {
  const receiver = startReceiver({ throttleFirst: 1, retryAfter: "1" })
  try {
    const stats = await run(10, {
      exporters: [Exporter.otlp({ endpoint: receiver.url, signals: ["traces"], scheduleDelay: "10 millis" })],
    })
    assert.equal(receiver.requests[0]!.status, 429)
    assert.equal(receiver.spans().length, 20)
    assert.equal(stats().failures, 0)
  } finally {
    await receiver.close()
  }
})

Deno.test("Exporter.otlp() flushes a full queue at shutdown", async () => {
  const receiver = startReceiver()
  try {
    // The interval never fires and the batch is the whole queue: everything waits for shutdown.
    const stats = await run(1024, {
      exporters: [
        Exporter.otlp({
          endpoint: receiver.url,
          signals: ["traces"],
          maxQueueSize: 2048,
          maxExportBatchSize: 2048,
          scheduleDelay: "1 hour",
        }),
      ],
    })
    const final = stats()
    assert.equal(final.queued, 0)
    assert.equal(receiver.spans().length, 2048)
    assert.deepEqual(final.dropped, {})
  } finally {
    await receiver.close()
  }
})

Deno.test("Exporter.otlp() shutdown is bounded by shutdownTimeout with a slow receiver; the rest is counted", async () => {
  const receiver = startReceiver({ delayMs: 400 })
  try {
    const stats = await run(200, {
      shutdownTimeout: "600 millis",
      exporters: [
        Exporter.otlp({
          endpoint: receiver.url,
          signals: ["traces"],
          maxExportBatchSize: 50,
          scheduleDelay: "1 hour",
        }),
      ],
    })
    const final = stats()
    const received = receiver.spans().length
    assert.ok(received < 400, "the slow receiver could not take everything before the deadline")
    assert.equal(received + dropped(final, "shutdown"), 400)
  } finally {
    await receiver.close()
  }
})

Deno.test("Exporter.otlp() with the receiver down: the program runs, drops are counted, shutdown is bounded", async () => {
  const url = await downUrl()
  const stats = await run(10, {
    shutdownTimeout: "1500 millis",
    exporters: [Exporter.otlp({ endpoint: url, signals: ["traces"], scheduleDelay: "10 millis" })],
  })
  const final = stats()
  assert.equal(dropped(final, "export_failed") + dropped(final, "shutdown"), 20)
  assert.ok(final.failures >= 1)
  assert.match(final.lastError ?? "", /Connection refused|ECONNREFUSED|connect/i)
})

for (const protocol of ["http/protobuf", "http/json"] as const) {
  Deno.test(`Exporter.otlp() ${protocol}: a partial success is counted as rejected and not retried`, async () => {
    const receiver = startReceiver({ rejectFirst: 3 })
    try {
      const stats = await run(5, {
        exporters: [Exporter.otlp({ endpoint: receiver.url, protocol, signals: ["traces"] })],
      })
      const final = stats()
      assert.equal(receiver.requests.length, 1, "not retried")
      assert.equal(receiver.spans().length, 10)
      assert.equal(dropped(final, "rejected"), 3)
      assert.equal(final.exported["traces"], 7, "received - rejected")
      assert.equal(final.failures, 0, "the request itself succeeded")
      assert.match(final.lastError ?? "", /partial success: 3 rejected \(too old\)/)
    } finally {
      await receiver.close()
    }
  })
}
