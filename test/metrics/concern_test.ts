import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import { MetricCatalogue, Metrics, Prometheus, Request, Stage, StageStats, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { ExportStatsSlot, RedactorSlot } from "../../src/internal/slots.ts"
import { effectTest, liveTest, runFor } from "../_harness.ts"

const telemetry = (options: Telemetry.TelemetryOptions = {}) =>
  Telemetry.layer({ serviceName: "test", systemMetrics: false, ...options })

const stage = (id: string, ms: number, outcome: "ok" | "error" = "ok") =>
  Effect.sleep(`${ms} millis`).pipe(
    Effect.andThen(outcome === "ok" ? Effect.void : Effect.fail("boom")),
    Stage.track(id),
  )

effectTest("stage durations feed the histogram and StageStats alike", () =>
  Effect.gen(function* () {
    const durations = [3, 7, 12, 40, 250, 1200]
    const request = Effect.gen(function* () {
      for (const ms of durations) yield* stage("kb_access", ms)
      yield* Effect.ignore(stage("kb_access", 30, "error"))
      yield* stage("llm_request", 900)
    }).pipe(Request.track("chat"))
    yield* runFor(request, "10 seconds")
    // An interrupted stage.
    const fiber = yield* Effect.forkChild(stage("kb_access", 10_000).pipe(Request.track("chat")), {
      startImmediately: true,
    })
    yield* TestClock.adjust("5 millis")
    yield* Fiber.interrupt(fiber)

    const stats = (yield* StageStats.get("kb_access"))!
    const byStatus = yield* Effect.all({
      ok: Metrics.value(MetricCatalogue.stageDuration, { stage: "kb_access", status: "ok" }),
      error: Metrics.value(MetricCatalogue.stageDuration, { stage: "kb_access", status: "error" }),
      interrupted: Metrics.value(MetricCatalogue.stageDuration, {
        stage: "kb_access",
        status: "interrupted",
      }),
    })
    const count = byStatus.ok!.count + byStatus.error!.count + byStatus.interrupted!.count
    const sumSeconds = byStatus.ok!.sum + byStatus.error!.sum + byStatus.interrupted!.sum
    assert.equal(count, stats.count)
    assert.equal(byStatus.ok!.count, Math.round(stats.successRate * stats.count))
    assert.ok(Math.abs(sumSeconds * 1000 - stats.meanMs * stats.count) < 1e-6)
    assert.deepEqual([byStatus.ok!.count, byStatus.error!.count, byStatus.interrupted!.count], [6, 1, 1])
    assert.equal(byStatus.ok!.sum, durations.reduce((a, b) => a + b, 0) / 1000)
    assert.equal(byStatus.interrupted!.sum, 0.005)
    // Cumulative buckets: 3 ms ≤ 0.005, 7 ≤ 0.01, 12 ≤ 0.025, 40 ≤ 0.05, 250 ≤ 0.25, 1200 ≤ 2.5.
    const cumulative = new Map(byStatus.ok!.buckets.map(([le, c]) => [le, c]))
    assert.deepEqual(
      [0.0025, 0.005, 0.01, 0.025, 0.05, 0.25, 1, 2.5, Infinity].map((le) => cumulative.get(le)),
      [0, 1, 2, 3, 4, 5, 5, 6, 6],
    )
    const llm = yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "llm_request", status: "ok" })
    assert.equal(llm?.sum, 0.9)
  }).pipe(Effect.provide(telemetry())))

effectTest("requests are counted and timed by name and outcome", () =>
  Effect.gen(function* () {
    yield* runFor(stage("auth", 20).pipe(Request.track("chat")), "20 millis")
    yield* runFor(stage("auth", 20).pipe(Request.track("chat")), "20 millis")
    yield* runFor(Effect.ignore(stage("auth", 5, "error").pipe(Request.track("chat"))), "5 millis")
    yield* runFor(stage("auth", 1).pipe(Request.track("search")), "1 millis")
    assert.equal(yield* Metrics.value(MetricCatalogue.requestsTotal, { request: "chat", status: "ok" }), 2)
    assert.equal(yield* Metrics.value(MetricCatalogue.requestsTotal, { request: "chat", status: "error" }), 1)
    assert.equal(yield* Metrics.value(MetricCatalogue.requestsTotal, { request: "search", status: "ok" }), 1)
    const chat = yield* Metrics.value(MetricCatalogue.requestDuration, { request: "chat", status: "ok" })
    assert.deepEqual([chat?.count, chat?.sum], [2, 0.04])
    const text = yield* Prometheus.format()
    assert.match(text, /^# TYPE stagetrace_requests_in_flight gauge\nstagetrace_requests_in_flight 0$/m)
  }).pipe(Effect.provide(telemetry())))

effectTest(
  "recorder drops and truncated stage executions are exposed as counters",
  () =>
    Effect.gen(function* () {
      yield* Stage.record("outside_request")
      yield* Stage.record("outside_request")
      yield* Effect.gen(function* () {
        for (let i = 0; i < 4; i++) yield* Stage.track(Effect.void, `s${i}`)
      }).pipe(Request.track("long"))
      const text = yield* Prometheus.format()
      assert.match(text, /^stagetrace_dropped_samples_total\{reason="record_without_duration"\} 2$/m)
      assert.match(text, /^stagetrace_dropped_stage_executions_total 2$/m)
    }).pipe(Effect.provide(telemetry({ maxStagesPerRequest: 2 }))),
)

effectTest(
  "the export pipeline's statistics are exposed when the export concern publishes them",
  () =>
    Effect.gen(function* () {
      const recorder = yield* CurrentRecorder
      recorder.set(ExportStatsSlot, () => ({
        exported: { traces: 10, metrics: 2 },
        dropped: { "traces:queue_full": 3 },
        failures: 1,
        queued: 4,
        capacity: 2048,
        lastSuccessAt: undefined,
        lastFailureAt: undefined,
        lastError: undefined,
      }))
      const text = yield* Prometheus.format()
      assert.match(text, /^stagetrace_exported_total\{signal="traces"\} 10$/m)
      assert.match(text, /^stagetrace_export_dropped_total\{signal="traces",reason="queue_full"\} 3$/m)
      assert.match(text, /^stagetrace_export_failures_total 1$/m)
      assert.match(text, /^stagetrace_export_queued 4$/m)
      assert.match(text, /^stagetrace_export_queue_capacity 2048$/m)
    }).pipe(Effect.provide(telemetry())),
)

effectTest(
  "label values of user and toolkit metrics pass through the installed redactor",
  () =>
    Effect.gen(function* () {
      const recorder = yield* CurrentRecorder
      const mask = (text: string) => text.replace(/[\w.]+@[\w.]+/g, "[EMAIL]")
      recorder.set(RedactorSlot, {
        redactString: mask,
        redactValue: (_key, value) => (typeof value === "string" ? mask(value) : value),
      })
      yield* Metrics.increment(MetricCatalogue.errorsTotal, {
        component: "mailer",
        error_type: "bounce:ann@x.io",
      })
      yield* Metrics.increment(MetricCatalogue.errorsTotal, {
        component: "mailer",
        error_type: "bounce:bob@x.io",
      })
      yield* Stage.track(Effect.void, "notify:ann@x.io").pipe(Request.track("r"))
      const text = yield* Prometheus.format()
      assert.match(text, /^errors_total\{component="mailer",error_type="bounce:\[EMAIL\]"\} 2$/m)
      assert.match(text, /stagetrace_stage_duration_seconds_count\{stage="notify:\[EMAIL\]",status="ok"\} 1/)
      assert.doesNotMatch(text, /x\.io/)
    }).pipe(Effect.provide(telemetry())),
)

effectTest(
  "stage series are cached per stage id, bounded, and recreated after eviction",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        for (const id of ["a", "b", "c", "d", "a"]) yield* Stage.track(Effect.void, id)
      }).pipe(Request.track("r"))
      assert.equal(
        (yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "a", status: "ok" }))?.count,
        2,
      )
      assert.equal(
        yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "d", status: "ok" }),
        undefined,
      )
      assert.equal(
        yield* Metrics.value(MetricCatalogue.metricSeriesOverflow, {
          metric: "stagetrace_stage_duration_seconds",
        }),
        1,
      )
      yield* TestClock.adjust("2 minutes")
      assert.equal(
        yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "a", status: "ok" }),
        undefined,
      )
      yield* Stage.track(Effect.void, "a").pipe(Request.track("r"))
      assert.equal(
        (yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "a", status: "ok" }))?.count,
        1,
      )
    }).pipe(Effect.provide(telemetry({ maxSeriesPerMetric: 3, seriesTtl: "1 minute" }))),
)

effectTest(
  "one stage wrapper run under two layers in turn feeds each layer's statistics and metrics only",
  () =>
    Effect.gen(function* () {
      // One spec (the same wrapper), so the handles it caches must follow the layer it runs under.
      const tracked = Stage.track(Effect.void, "shared").pipe(Request.track("r"))
      const counts = Effect.all([
        Effect.map(StageStats.get("shared"), (stats) => stats?.count),
        Effect.map(
          Metrics.value(MetricCatalogue.stageDuration, { stage: "shared", status: "ok" }),
          (value) => (value as { count: number } | undefined)?.count,
        ),
      ])
      const [first, second] = [telemetry(), telemetry()]
      const runs = yield* Effect.gen(function* () {
        const a = yield* Layer.build(first)
        const b = yield* Layer.build(second)
        for (const context of [a, b, a, a, b, a]) yield* Effect.provide(tracked, context)
        return [yield* Effect.provide(counts, a), yield* Effect.provide(counts, b)]
      }).pipe(Effect.scoped)
      assert.deepEqual(runs, [[4, 4], [2, 2]])
    }),
)

effectTest(
  "stageDurationBuckets sets the buckets of the stage and request histograms",
  () =>
    Effect.gen(function* () {
      yield* runFor(stage("a", 2).pipe(Request.track("r")), "2 millis")
      const value = yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "a", status: "ok" })
      assert.deepEqual(value?.buckets.map(([le]) => le), [0.001, 0.01, Infinity])
      const text = yield* Prometheus.format()
      assert.match(text, /stagetrace_request_duration_seconds_bucket\{request="r",status="ok",le="0.01"\} 1/)
    }).pipe(Effect.provide(telemetry({ stageDurationBuckets: [0.001, 0.01] }))),
)

effectTest(
  "metricsEnabled: false leaves stages working and records no metric",
  () =>
    Effect.gen(function* () {
      yield* Stage.track(Effect.void, "a").pipe(Request.track("r"))
      assert.equal((yield* StageStats.get("a"))?.count, 1)
      assert.equal(
        yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "a", status: "ok" }),
        undefined,
      )
    }).pipe(Effect.provide(telemetry({ metricsEnabled: false }))),
)

effectTest(
  "invalid metric options fail Telemetry.layer with a TelemetryConfigError naming them",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Telemetry.TelemetryOptions, string]> = [
        [{ maxSeriesPerMetric: 0 }, "maxSeriesPerMetric"],
        [{ maxSeriesPerMetric: 2.5 }, "maxSeriesPerMetric"],
        [{ seriesTtl: "soon" as never }, "seriesTtl"],
        [{ seriesTtl: 0 }, "seriesTtl"],
        [{ stageDurationBuckets: [1, 0.5] }, "stageDurationBuckets"],
        [{ metricsEnabled: "yes" as never }, "metricsEnabled"],
        [{ prometheus: { port: -1 } }, "prometheus.port"],
        [{ prometheus: { bearerToken: "" } }, "prometheus.bearerToken"],
        [{ prometheus: "on" as never }, "prometheus"],
      ]
      for (const [options, name] of cases) {
        const error = yield* Effect.flip(Layer.build(telemetry(options)))
        assert.equal(error.name, name, JSON.stringify(options))
      }
    }),
)

effectTest("metric options are read from the environment", () =>
  Effect.gen(function* () {
    const options = yield* Telemetry.optionsFromEnv({
      ENABLE_METRICS: "false",
      STAGETRACE_METRICS_MAX_SERIES_PER_METRIC: "50",
      STAGETRACE_METRICS_SERIES_TTL: "10 minutes",
      OTEL_METRICS_EXPORTER: "otlp, prometheus",
      OTEL_EXPORTER_PROMETHEUS_HOST: "localhost",
      OTEL_EXPORTER_PROMETHEUS_PORT: "9999",
    })
    assert.equal(options.metricsEnabled, false)
    assert.equal(options.maxSeriesPerMetric, 50)
    assert.ok(options.seriesTtl !== undefined)
    const server = options.prometheus as { hostname: string; port: number }
    assert.deepEqual([server.hostname, server.port], ["127.0.0.1", 9999])
    const none = yield* Telemetry.optionsFromEnv({ OTEL_METRICS_EXPORTER: "otlp" })
    assert.equal(none.prometheus, undefined)
    const ms = yield* Telemetry.optionsFromEnv({ STAGETRACE_METRICS_SERIES_TTL: "60000" })
    assert.ok(ms.seriesTtl !== undefined)
    for (
      const [name, value] of [
        ["STAGETRACE_METRICS_MAX_SERIES_PER_METRIC", "many"],
        ["STAGETRACE_METRICS_SERIES_TTL", "later"],
        ["OTEL_EXPORTER_PROMETHEUS_PORT", "99999"],
        ["ENABLE_METRICS", "perhaps"],
      ] as const
    ) {
      const error = yield* Effect.flip(Telemetry.optionsFromEnv({ [name]: value }))
      assert.equal(error.name, name)
      assert.equal(error.source, "env")
    }
    for (
      const name of [
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
        "STAGETRACE_METRICS_SERIES_TTL",
      ]
    ) {
      assert.ok(Telemetry.environmentVariables.includes(name), name)
    }
  }))

liveTest("Telemetry.layer serves Prometheus when asked to", () =>
  Effect.gen(function* () {
    yield* Effect.gen(function* () {
      yield* Stage.track(Effect.void, "auth").pipe(Request.track("chat"))
      const address = yield* Prometheus.serverAddress
      const body = yield* Effect.promise(() =>
        fetch(address!.url, { headers: { authorization: "Bearer abc" } }).then((r) => r.text())
      )
      assert.match(body, /^stagetrace_stage_duration_seconds_count\{stage="auth",status="ok"\} 1$/m)
      assert.match(body, /^stagetrace_requests_total\{request="chat",status="ok"\} 1$/m)
      assert.match(body, /^system_memory_usage_bytes\{type="rss"\} \d+$/m)
    }).pipe(Effect.provide(Telemetry.layer({ prometheus: { port: 0, bearerToken: "abc" } })))
  }))

effectTest(
  "stage and request durations are exposed in seconds without ms-to-s rounding noise",
  () =>
    Effect.gen(function* () {
      // 7.000009 ms: (7000009 / 1e6) / 1000 rounds twice, to 0.007000009000000001; 7000009 / 1e9 once.
      yield* runFor(
        Effect.sleep("7000009 nanos").pipe(Stage.track("kb_access"), Request.track("chat")),
        "1 second",
      )
      const stageSum =
        (yield* Metrics.value(MetricCatalogue.stageDuration, { stage: "kb_access", status: "ok" }))
          ?.sum
      assert.equal(stageSum, 0.007000009)
      const text = yield* Prometheus.format("text")
      assert.match(
        text,
        /\nstagetrace_stage_duration_seconds_sum\{stage="kb_access",status="ok"\} 0\.007000009\n/,
      )
      assert.match(
        text,
        /\nstagetrace_request_duration_seconds_sum\{request="chat",status="ok"\} 0\.007000009\n/,
      )
    }).pipe(Effect.provide(telemetry())),
)
