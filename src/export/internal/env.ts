/**
 * The OpenTelemetry environment variables of the export concern, read into `Exporter` values. Each is
 * read by name (so `--allow-env` may be narrowed to `environmentVariables`), and an invalid value is a
 * `TelemetryConfigError` naming the variable.
 *
 * Deviation from the specification, on purpose: OTLP export starts only when an OTLP endpoint variable
 * is set or `OTEL_*_EXPORTER` names `otlp` — a library must not start posting to `localhost:4318` because
 * nothing was configured.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import {
  type Env,
  envError,
  envLiteral,
  envNumber,
  envString,
  firstSet,
  NonNegativeInt,
  parseKeyValueList,
  PositiveInt,
} from "../../internal/config.ts"
import type { TelemetryConfigError } from "../../internal/config.ts"
import * as Exporter from "../Exporter.ts"
import { headerProblem } from "./channel.ts"

/** Every variable this concern reads. */
export const exportEnvironmentVariables: ReadonlyArray<string> = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_TIMEOUT",
  "OTEL_EXPORTER_OTLP_COMPRESSION",
  ...["TRACES", "METRICS", "LOGS"].flatMap((signal) =>
    ["HEADERS", "PROTOCOL", "TIMEOUT", "COMPRESSION"].map((setting) =>
      `OTEL_EXPORTER_OTLP_${signal}_${setting}`
    )
  ),
  "OTEL_TRACES_EXPORTER",
  "OTEL_METRICS_EXPORTER",
  "OTEL_LOGS_EXPORTER",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_BSP_MAX_QUEUE_SIZE",
  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
  "OTEL_BSP_EXPORT_TIMEOUT",
  "OTEL_METRIC_EXPORT_INTERVAL",
  "OTEL_DENO",
  "STAGETRACE_OTLP_IMPLEMENTATION",
]

type ExporterName = "otlp" | "console" | "none" | "prometheus"

const exporterList = (
  env: Env,
  name: string,
  allowed: ReadonlyArray<ExporterName>,
): Effect.Effect<ReadonlyArray<ExporterName> | undefined, TelemetryConfigError> => {
  const raw = env[name]
  if (raw === undefined) return Effect.succeed(undefined)
  const values = raw.split(",").map((v) => v.trim().toLowerCase()).filter((v) => v !== "")
  for (const value of values) {
    if (!allowed.includes(value as ExporterName)) {
      return Effect.fail(envError(name, raw, `Expected a comma-separated list of ${allowed.join(", ")}`))
    }
  }
  return Effect.succeed(values as ReadonlyArray<ExporterName>)
}

const url = (env: Env, name: string): Effect.Effect<string | undefined, TelemetryConfigError> => {
  const raw = envString(env, [name])
  if (raw === undefined) return Effect.succeed(undefined)
  try {
    const parsed = new URL(raw)
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http")
    return Effect.succeed(raw)
  } catch {
    return Effect.fail(envError(name, raw, "Expected an http:// or https:// URL"))
  }
}

/** The OTLP settings of one signal: `OTEL_EXPORTER_OTLP_{SIGNAL}_*` when set, else `OTEL_EXPORTER_OTLP_*`. */
interface SignalSettings {
  readonly protocol: "http/protobuf" | "http/json" | undefined
  readonly compression: "gzip" | "none" | undefined
  readonly timeout: number | undefined
  readonly headers: Readonly<Record<string, string>> | undefined
}

const signalSettings = (
  env: Env,
  signal: "TRACES" | "METRICS" | "LOGS",
): Effect.Effect<SignalSettings, TelemetryConfigError> =>
  Effect.gen(function* () {
    const names = (
      setting: string,
    ) => [`OTEL_EXPORTER_OTLP_${signal}_${setting}`, `OTEL_EXPORTER_OTLP_${setting}`]
    const rawProtocol = firstSet(env, names("PROTOCOL"))
    if (rawProtocol !== undefined && rawProtocol[1].trim().toLowerCase() === "grpc") {
      return yield* Effect.fail(
        envError(rawProtocol[0], rawProtocol[1], "grpc is not supported: use http/protobuf or http/json"),
      )
    }
    const protocol = yield* envLiteral(env, names("PROTOCOL"), ["http/protobuf", "http/json"])
    const compression = yield* envLiteral(env, names("COMPRESSION"), ["gzip", "none"])
    const timeout = yield* envNumber(env, names("TIMEOUT"), PositiveInt)
    const rawHeaders = firstSet(env, names("HEADERS"))
    let headers: Record<string, string> | undefined
    if (rawHeaders !== undefined) {
      const [name, raw] = rawHeaders
      headers = yield* parseKeyValueList(name, raw)
      const problem = headerProblem(headers)
      if (problem !== undefined) return yield* Effect.fail(envError(name, raw, problem))
    }
    return { protocol, compression, timeout, headers }
  })

/** The exporters described by the environment (empty when it configures none). */
export const exportersFromEnv = (
  env: Env,
): Effect.Effect<ReadonlyArray<Exporter.Exporter>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const traces = yield* exporterList(env, "OTEL_TRACES_EXPORTER", ["otlp", "console", "none"])
    const metrics = yield* exporterList(env, "OTEL_METRICS_EXPORTER", [
      "otlp",
      "console",
      "none",
      "prometheus",
    ])
    const logs = yield* exporterList(env, "OTEL_LOGS_EXPORTER", ["otlp", "console", "none"])
    const endpoint = yield* url(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    const tracesEndpoint = yield* url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    const metricsEndpoint = yield* url(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    const logsEndpoint = yield* url(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    const settings = {
      traces: yield* signalSettings(env, "TRACES"),
      metrics: yield* signalSettings(env, "METRICS"),
      logs: yield* signalSettings(env, "LOGS"),
    }
    const scheduleDelay = yield* envNumber(env, ["OTEL_BSP_SCHEDULE_DELAY"], NonNegativeInt)
    const maxQueueSize = yield* envNumber(env, ["OTEL_BSP_MAX_QUEUE_SIZE"], PositiveInt)
    const maxExportBatchSize = yield* envNumber(env, ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"], PositiveInt)
    const exportTimeout = yield* envNumber(env, ["OTEL_BSP_EXPORT_TIMEOUT"], PositiveInt)
    const metricExportInterval = yield* envNumber(env, ["OTEL_METRIC_EXPORT_INTERVAL"], PositiveInt)
    const implementation = yield* envLiteral(env, ["STAGETRACE_OTLP_IMPLEMENTATION"], ["effect", "otel-sdk"])

    const anyEndpoint = endpoint !== undefined
    const signals: Array<Exporter.OtlpSignal> = []
    const wants = (list: ReadonlyArray<ExporterName> | undefined, own: string | undefined) =>
      list !== undefined ? list.includes("otlp") : anyEndpoint || own !== undefined
    // Under OTEL_DENO=true, Deno itself exports traces to the OTLP endpoint: spans go there through
    // Exporter.denoNative() instead of a second, duplicate OTLP trace exporter.
    const denoOtel = env["OTEL_DENO"]?.trim() === "true"
    if (!denoOtel && wants(traces, tracesEndpoint)) signals.push("traces")
    if (wants(metrics, metricsEndpoint)) signals.push("metrics")
    if (wants(logs, logsEndpoint)) signals.push("logs")

    const out: Array<Exporter.Exporter> = []
    // One exporter per distinct per-signal setting (usually one for every signal).
    const groups = new Map<string, Array<Exporter.OtlpSignal>>()
    for (const signal of signals) {
      const key = JSON.stringify(settings[signal])
      const group = groups.get(key)
      if (group === undefined) groups.set(key, [signal])
      else group.push(signal)
    }
    for (const group of groups.values()) {
      const { protocol, compression, timeout, headers } = settings[group[0]!]
      const options: Record<string, unknown> = {
        endpoint,
        tracesEndpoint,
        metricsEndpoint,
        logsEndpoint,
        protocol,
        compression,
        headers,
        timeout,
        signals: group,
        implementation,
        scheduleDelay,
        maxQueueSize,
        maxExportBatchSize,
        exportTimeout,
        metricExportInterval,
      }
      for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key]
      out.push(Exporter.otlp(options as Exporter.OtlpOptions))
    }
    if (traces?.includes("console")) out.push(Exporter.console())
    if (denoOtel && traces?.includes("none") !== true) out.push(Exporter.denoNative())
    return out
  })
