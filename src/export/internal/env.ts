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
  envBoolean,
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
import { grpcMetadata, parseGrpcTarget } from "./grpc.ts"

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
  "OTEL_EXPORTER_OTLP_INSECURE",
  "OTEL_EXPORTER_OTLP_CERTIFICATE",
  ...["TRACES", "METRICS", "LOGS"].flatMap((signal) =>
    ["HEADERS", "PROTOCOL", "TIMEOUT", "COMPRESSION", "INSECURE", "CERTIFICATE"].map((setting) =>
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

/** The OTLP settings of one signal: `OTEL_EXPORTER_OTLP_{SIGNAL}_*` when set, else `OTEL_EXPORTER_OTLP_*`. */
interface SignalSettings {
  readonly protocol: "http/protobuf" | "http/json" | "grpc" | undefined
  readonly compression: "gzip" | "none" | undefined
  readonly timeout: number | undefined
  readonly headers: readonly [name: string, raw: string] | undefined
  readonly insecure: boolean | undefined
  /** The variable naming a certificate file, and the path. */
  readonly certificate: readonly [name: string, path: string] | undefined
}

const signalSettings = (
  env: Env,
  signal: "TRACES" | "METRICS" | "LOGS",
): Effect.Effect<SignalSettings, TelemetryConfigError> =>
  Effect.gen(function* () {
    const names = (
      setting: string,
    ) => [`OTEL_EXPORTER_OTLP_${signal}_${setting}`, `OTEL_EXPORTER_OTLP_${setting}`]
    const protocol = yield* envLiteral(env, names("PROTOCOL"), ["http/protobuf", "http/json", "grpc"])
    const compression = yield* envLiteral(env, names("COMPRESSION"), ["gzip", "none"])
    const timeout = yield* envNumber(env, names("TIMEOUT"), PositiveInt)
    const insecure = yield* envBoolean(env, names("INSECURE"))
    const rawHeaders = firstSet(env, names("HEADERS"))
    if (rawHeaders !== undefined) yield* parseKeyValueList(rawHeaders[0], rawHeaders[1])
    const certificate = firstSet(env, names("CERTIFICATE"))
    return {
      protocol,
      compression,
      timeout,
      headers: rawHeaders,
      insecure,
      certificate: certificate === undefined ? undefined : [certificate[0], certificate[1].trim()],
    }
  })

/**
 * An endpoint variable for `protocol`: OTLP/HTTP takes an http(s) URL; OTLP/gRPC also a bare `host:port`
 * (TLS unless insecure).
 */
const endpoint = (
  env: Env,
  name: string,
  grpc: boolean,
  insecure: boolean,
): Effect.Effect<string | undefined, TelemetryConfigError> => {
  const raw = envString(env, [name])
  if (raw === undefined) return Effect.succeed(undefined)
  if (grpc) {
    return parseGrpcTarget(raw, insecure) === undefined
      ? Effect.fail(envError(name, raw, "Expected an http:// or https:// URL, or host:port"))
      : Effect.succeed(raw)
  }
  try {
    const parsed = new URL(raw)
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http")
    return Effect.succeed(raw)
  } catch {
    return Effect.fail(envError(name, raw, "Expected an http:// or https:// URL"))
  }
}

const signalVariable: Readonly<Record<Exporter.OtlpSignal, "TRACES" | "METRICS" | "LOGS">> = {
  traces: "TRACES",
  metrics: "METRICS",
  logs: "LOGS",
}

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

    const anyEndpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"] !== undefined
    const ownEndpoint = (signal: Exporter.OtlpSignal) =>
      env[`OTEL_EXPORTER_OTLP_${signalVariable[signal]}_ENDPOINT`]
    const signals: Array<Exporter.OtlpSignal> = []
    const wants = (list: ReadonlyArray<ExporterName> | undefined, own: string | undefined) =>
      list !== undefined ? list.includes("otlp") : anyEndpoint || own !== undefined
    // Under OTEL_DENO=true, Deno itself exports traces to the OTLP endpoint: spans go there through
    // Exporter.denoNative() instead of a second, duplicate OTLP trace exporter.
    const denoOtel = env["OTEL_DENO"]?.trim() === "true"
    if (!denoOtel && wants(traces, ownEndpoint("traces"))) signals.push("traces")
    if (wants(metrics, ownEndpoint("metrics"))) signals.push("metrics")
    if (wants(logs, ownEndpoint("logs"))) signals.push("logs")

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
      const { protocol, compression, timeout, headers: rawHeaders, insecure, certificate: certificateFile } =
        settings[group[0]!]
      const grpc = protocol === "grpc"
      const base = yield* endpoint(env, "OTEL_EXPORTER_OTLP_ENDPOINT", grpc, insecure === true)
      // Only this group's own endpoints: another group may use another protocol.
      const own: Record<string, string | undefined> = {}
      for (const signal of group) {
        own[`${signal}Endpoint`] = yield* endpoint(
          env,
          `OTEL_EXPORTER_OTLP_${signalVariable[signal]}_ENDPOINT`,
          grpc,
          insecure === true,
        )
      }
      let headers: Record<string, string> | undefined
      if (rawHeaders !== undefined) {
        const [name, raw] = rawHeaders
        headers = yield* parseKeyValueList(name, raw)
        const checked = grpc ? grpcMetadata(headers) : undefined
        const problem = checked === undefined
          ? headerProblem(headers)
          : "problem" in checked
          ? checked.problem
          : undefined
        if (problem !== undefined) return yield* Effect.fail(envError(name, raw, problem))
      }
      // OTEL_EXPORTER_OTLP_CERTIFICATE applies to gRPC's TLS (OTLP/HTTP uses the runtime's roots).
      let certificate: string | undefined
      if (grpc && certificateFile !== undefined) {
        const [name, path] = certificateFile
        certificate = yield* Effect.tryPromise({
          try: () => Deno.readTextFile(path),
          catch: (error) => envError(name, path, `Cannot read the certificate file: ${String(error)}`),
        })
        if (!certificate.includes("-----BEGIN CERTIFICATE-----")) {
          return yield* Effect.fail(envError(name, path, "Expected a PEM certificate file"))
        }
      }
      const options: Record<string, unknown> = {
        endpoint: base,
        ...own,
        protocol,
        compression,
        headers,
        timeout,
        insecure: grpc ? insecure : undefined,
        certificate,
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
