/**
 * `Telemetry.layerFromEnv` and the OpenTelemetry environment variables of the export concern.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Exporter, Telemetry } from "../../mod.ts"
import { resolveOtlp } from "../../src/export/internal/concern.ts"
import { exportersFromEnv } from "../../src/export/internal/env.ts"
import type { Env } from "../../src/internal/config.ts"
import { effectTest } from "../_harness.ts"

const exportersOf = (env: Env) => Effect.runPromise(exportersFromEnv(env))

Deno.test("OTEL_EXPORTER_OTLP_ENDPOINT turns on OTLP for every signal with the OTEL_* settings", async () => {
  const [otlp, ...rest] = await exportersOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4318/custom",
    OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=abc%20123, tenant = t1",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_TIMEOUT: "2500",
    OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
    OTEL_BSP_SCHEDULE_DELAY: "1000",
    OTEL_BSP_MAX_QUEUE_SIZE: "100",
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "10",
    OTEL_BSP_EXPORT_TIMEOUT: "9000",
    OTEL_METRIC_EXPORT_INTERVAL: "15000",
  })
  assert.deepEqual(rest, [])
  assert.deepEqual(
    otlp,
    Exporter.otlp({
      endpoint: "http://collector:4318",
      tracesEndpoint: "http://traces:4318/custom",
      protocol: "http/json",
      compression: "gzip",
      headers: { "x-api-key": "abc 123", tenant: "t1" },
      timeout: 2500,
      signals: ["traces", "metrics", "logs"],
      scheduleDelay: 1000,
      maxQueueSize: 100,
      maxExportBatchSize: 10,
      exportTimeout: 9000,
      metricExportInterval: 15000,
    }),
  )
})

Deno.test("no OTLP variable means no OTLP exporter (nothing posts to localhost by surprise)", async () => {
  assert.deepEqual(await exportersOf({}), [])
  assert.deepEqual(await exportersOf({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }), [])
})

Deno.test("OTEL_{TRACES,METRICS,LOGS}_EXPORTER select the signals and the console exporter", async () => {
  const [otlp, console] = await exportersOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    OTEL_TRACES_EXPORTER: "console",
    OTEL_METRICS_EXPORTER: "prometheus",
    OTEL_LOGS_EXPORTER: "otlp",
  })
  assert.deepEqual(otlp?._tag === "Otlp" && otlp.options.signals, ["logs"])
  assert.equal(console?._tag, "Console")
  const [only] = await exportersOf({ OTEL_TRACES_EXPORTER: "otlp", OTEL_METRICS_EXPORTER: "none" })
  assert.deepEqual(only?._tag === "Otlp" && only.options.signals, ["traces"])
  const [signalEndpoint] = await exportersOf({
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m:4318/v1/metrics",
  })
  assert.deepEqual(signalEndpoint?._tag === "Otlp" && signalEndpoint.options.signals, ["metrics"])
})

Deno.test("OTEL_DENO=true hands traces to Deno instead of a second OTLP trace exporter", async () => {
  const exporters = await exportersOf({
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
  })
  assert.deepEqual(exporters.map((e) => e._tag), ["Otlp", "DenoNative"])
  assert.deepEqual(exporters[0]?._tag === "Otlp" && exporters[0].options.signals, ["metrics", "logs"])
})

effectTest(
  "invalid OTEL_* values are TelemetryConfigErrors naming the variable",
  () =>
    Effect.gen(function* () {
      const cases: Array<[Env, string]> = [
        [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
        [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "::" }, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
        [
          { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://c:4317" },
          "OTEL_EXPORTER_OTLP_ENDPOINT",
        ],
        [
          {
            OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
            OTEL_EXPORTER_OTLP_ENDPOINT: "c:4317",
            OTEL_EXPORTER_OTLP_INSECURE: "maybe",
          },
          "OTEL_EXPORTER_OTLP_INSECURE",
        ],
        [
          {
            OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
            OTEL_EXPORTER_OTLP_ENDPOINT: "c:4317",
            OTEL_EXPORTER_OTLP_HEADERS: "grpc-status=0",
          },
          "OTEL_EXPORTER_OTLP_HEADERS",
        ],
        [
          {
            OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
            OTEL_EXPORTER_OTLP_ENDPOINT: "https://c:4317",
            OTEL_EXPORTER_OTLP_CERTIFICATE: "/nonexistent/ca.pem",
          },
          "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ],
        [{ OTEL_EXPORTER_OTLP_PROTOCOL: "thrift" }, "OTEL_EXPORTER_OTLP_PROTOCOL"],
        [{ OTEL_EXPORTER_OTLP_TIMEOUT: "soon" }, "OTEL_EXPORTER_OTLP_TIMEOUT"],
        [{ OTEL_EXPORTER_OTLP_TIMEOUT: "-1" }, "OTEL_EXPORTER_OTLP_TIMEOUT"],
        [{ OTEL_EXPORTER_OTLP_COMPRESSION: "zstd" }, "OTEL_EXPORTER_OTLP_COMPRESSION"],
        [{ OTEL_EXPORTER_OTLP_HEADERS: "novalue" }, "OTEL_EXPORTER_OTLP_HEADERS"],
        [{ OTEL_EXPORTER_OTLP_HEADERS: "k=%zz" }, "OTEL_EXPORTER_OTLP_HEADERS"],
        [{ OTEL_TRACES_EXPORTER: "zipkin" }, "OTEL_TRACES_EXPORTER"],
        [{ OTEL_LOGS_EXPORTER: "prometheus" }, "OTEL_LOGS_EXPORTER"],
        [{ OTEL_BSP_MAX_QUEUE_SIZE: "0" }, "OTEL_BSP_MAX_QUEUE_SIZE"],
        [{ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "1.5" }, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
        [{ OTEL_BSP_SCHEDULE_DELAY: "NaN" }, "OTEL_BSP_SCHEDULE_DELAY"],
        [{ OTEL_BSP_EXPORT_TIMEOUT: "x" }, "OTEL_BSP_EXPORT_TIMEOUT"],
        [{ OTEL_METRIC_EXPORT_INTERVAL: "0" }, "OTEL_METRIC_EXPORT_INTERVAL"],
      ]
      for (const [env, name] of cases) {
        const error = yield* Layer.build(Telemetry.layerFromEnv({ env })).pipe(Effect.scoped, Effect.flip)
        assert.equal(error._tag, "TelemetryConfigError", name)
        assert.equal(error.name, name)
        assert.equal(error.source, "env")
      }
    }),
)

Deno.test("Telemetry.environmentVariables lists every variable the exporters read", () => {
  for (
    const name of [
      "OTEL_EXPORTER_OTLP_ENDPOINT",
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
      "OTEL_EXPORTER_OTLP_HEADERS",
      "OTEL_EXPORTER_OTLP_PROTOCOL",
      "OTEL_EXPORTER_OTLP_TIMEOUT",
      "OTEL_EXPORTER_OTLP_COMPRESSION",
      "OTEL_TRACES_EXPORTER",
      "OTEL_METRICS_EXPORTER",
      "OTEL_LOGS_EXPORTER",
      "OTEL_BSP_SCHEDULE_DELAY",
      "OTEL_BSP_MAX_QUEUE_SIZE",
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
      "OTEL_BSP_EXPORT_TIMEOUT",
      "OTEL_METRIC_EXPORT_INTERVAL",
    ]
  ) assert.ok(Telemetry.environmentVariables.includes(name), name)
})

effectTest(
  "zero OTLP timeouts are errors (every export would time out after a millisecond), in options and variables",
  () =>
    Effect.gen(function* () {
      const fromEnv: Array<[Env, string]> = [
        [
          { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TIMEOUT: "0" },
          "OTEL_EXPORTER_OTLP_TIMEOUT",
        ],
        [
          { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_BSP_EXPORT_TIMEOUT: "0" },
          "OTEL_BSP_EXPORT_TIMEOUT",
        ],
      ]
      for (const [env, name] of fromEnv) {
        const error = yield* Layer.build(Telemetry.layerFromEnv({ env })).pipe(Effect.scoped, Effect.flip)
        assert.equal(error.name, name)
      }
      const fromOptions: Array<[Exporter.OtlpOptions, string]> = [
        [{ timeout: 0 }, "exporters[0].timeout"],
        [{ exportTimeout: "0 millis" }, "exporters[0].exportTimeout"],
      ]
      for (const [options, name] of fromOptions) {
        const error = yield* Layer.build(Telemetry.layer({ exporters: [Exporter.otlp(options)] })).pipe(
          Effect.scoped,
          Effect.flip,
        )
        assert.equal(error.name, name)
      }
    }),
)

Deno.test("OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_{HEADERS,PROTOCOL,TIMEOUT,COMPRESSION} override per signal", async () => {
  const exporters = await exportersOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=shared",
    OTEL_EXPORTER_OTLP_TIMEOUT: "2000",
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "gzip",
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "500",
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: "x-api-key=logs-only",
  })
  const options = exporters.map((e) => (e as Exporter.OtlpExporter).options)
  assert.deepEqual(options.map((o) => o.signals), [["traces"], ["metrics"], ["logs"]])
  assert.deepEqual(
    options.map((o) => [o.protocol, o.compression, o.timeout, o.headers]),
    [
      ["http/json", "gzip", 2000, { "x-api-key": "shared" }],
      [undefined, undefined, 500, { "x-api-key": "shared" }],
      [undefined, undefined, 2000, { "x-api-key": "logs-only" }],
    ],
  )
  // Signals whose settings agree share one exporter.
  const [shared, ...rest] = await exportersOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
  })
  assert.deepEqual(rest, [])
  assert.deepEqual((shared as Exporter.OtlpExporter).options.signals, ["traces", "metrics", "logs"])
})

effectTest("invalid per-signal OTLP variables are errors naming the variable", () =>
  Effect.gen(function* () {
    for (
      const name of [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
      ]
    ) {
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", [name]: "thrift" }
      const error = yield* Layer.build(Telemetry.layerFromEnv({ env })).pipe(Effect.scoped, Effect.flip)
      assert.equal(error.name, name)
      assert.ok(Telemetry.environmentVariables.includes(name), name)
    }
  }))

Deno.test("OTEL_EXPORTER_OTLP_PROTOCOL=grpc: the endpoint is used as it is, for every signal", async () => {
  const [otlp, ...rest] = await exportersOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317",
    OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
  })
  assert.deepEqual(rest, [])
  assert.deepEqual(
    otlp,
    Exporter.otlp({
      endpoint: "http://collector:4317",
      protocol: "grpc",
      signals: ["traces", "metrics", "logs"],
    }),
  )
  const resolved = await Effect.runPromise(
    resolveOtlp("exporters[0]", (otlp as Exporter.OtlpExporter).options),
  )
  assert.deepEqual(resolved.urls, {
    traces: "http://collector:4317",
    metrics: "http://collector:4317",
    logs: "http://collector:4317",
  })
})

Deno.test("protocol grpc without an endpoint defaults to http://localhost:4317, with no /v1 suffix", async () => {
  const resolved = await Effect.runPromise(resolveOtlp("exporters[0]", { protocol: "grpc" }))
  assert.equal(resolved.urls.traces, "http://localhost:4317")
  assert.equal(resolved.urls.logs, "http://localhost:4317")
  const http = await Effect.runPromise(resolveOtlp("exporters[0]", {}))
  assert.equal(http.urls.traces, "http://localhost:4318/v1/traces")
})

Deno.test("per-signal OTEL_EXPORTER_OTLP_*_PROTOCOL mixes gRPC and HTTP exporters", async () => {
  const exporters = await exportersOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "collector:4317",
    OTEL_EXPORTER_OTLP_TRACES_INSECURE: "true",
  })
  assert.deepEqual(exporters, [
    Exporter.otlp({
      endpoint: "http://collector:4318",
      tracesEndpoint: "collector:4317",
      protocol: "grpc",
      insecure: true,
      signals: ["traces"],
    }),
    Exporter.otlp({ endpoint: "http://collector:4318", signals: ["metrics", "logs"] }),
  ])
  const traces = await Effect.runPromise(
    resolveOtlp("exporters[0]", (exporters[0] as Exporter.OtlpExporter).options),
  )
  assert.equal(traces.urls.traces, "http://collector:4317", "host:port with INSECURE=true is cleartext")
  const tls = await Effect.runPromise(resolveOtlp("x", { protocol: "grpc", endpoint: "collector:4317" }))
  assert.equal(tls.urls.traces, "https://collector:4317", "host:port is TLS by default")
  const scheme = await Effect.runPromise(
    resolveOtlp("x", { protocol: "grpc", endpoint: "https://collector:4317", insecure: true }),
  )
  assert.equal(scheme.urls.traces, "https://collector:4317", "a scheme wins over insecure")
})

Deno.test("OTEL_EXPORTER_OTLP_CERTIFICATE is read for gRPC (and ignored for OTLP/HTTP)", async () => {
  const pem = await Deno.readTextFile(new URL("../integration/fixtures/grpc_tls_cert.pem", import.meta.url))
  const file = await Deno.makeTempFile({ suffix: ".pem" })
  try {
    await Deno.writeTextFile(file, pem)
    const [grpc] = await exportersOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector:4317",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_EXPORTER_OTLP_CERTIFICATE: file,
    })
    assert.equal((grpc as Exporter.OtlpExporter).options.certificate, pem)
    const [http] = await exportersOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector:4318",
      OTEL_EXPORTER_OTLP_CERTIFICATE: file,
    })
    assert.equal((http as Exporter.OtlpExporter).options.certificate, undefined)
  } finally {
    await Deno.remove(file)
  }
})
