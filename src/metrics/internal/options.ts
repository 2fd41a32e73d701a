/**
 * Options of the metrics concern and the Prometheus server: the public option interfaces, their defaults,
 * validation (each bad value a `TelemetryConfigError` naming it) and environment variables.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import {
  bearerTokenOption,
  Bool,
  durationOption,
  type Env,
  envBoolean,
  envError,
  envNumber,
  envString,
  NonEmpty,
  option,
  optionError,
  PositiveInt,
  type TelemetryConfigError,
} from "../../internal/config.ts"
import { DefinitionImpl, validate } from "./definition.ts"
import { requestDurationDef, stageBuckets, stageDurationDef } from "./toolkit.ts"

/**
 * How the Prometheus endpoint picks its format: from the scraper's `Accept` header (`"negotiate"`), or
 * always the text format 0.0.4 (`"text"`) or OpenMetrics 1.0 (`"openmetrics"`).
 *
 * @category models
 * @since 0.1.0
 */
export type FormatChoice = "negotiate" | "text" | "openmetrics"

/**
 * Options of `Prometheus.handler`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface HandlerOptions {
  /**
   * When set, requests must carry `Authorization: Bearer <token>`; others get `401`.
   * @default undefined (no authentication)
   */
  readonly bearerToken?: string | Redacted.Redacted<string> | undefined
  /**
   * The format to serve.
   * @default "negotiate"
   */
  readonly format?: FormatChoice | undefined
}

/**
 * Options of `Prometheus.layerServer` and of the `prometheus` option of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface ServerOptions extends HandlerOptions {
  /**
   * The TCP port; `0` picks a free one (read it back with `Prometheus.serverAddress`).
   * @default 9464
   */
  readonly port?: number | undefined
  /**
   * The interface to listen on. Use `"0.0.0.0"` to accept scrapes from other machines.
   * @default "127.0.0.1"
   */
  readonly hostname?: string | undefined
  /**
   * The path serving the metrics; every other path answers `404`.
   * @default "/metrics"
   */
  readonly path?: string | undefined
}

/**
 * Options of `aggregateIsolates`: how the isolates of one process (the workers of
 * `deno serve --parallel`) find each other and how long a scrape waits for them.
 *
 * @example One isolate: nothing to wait for, the scrape reports it
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics, Prometheus } from "@stagetrace/stagetrace"
 *
 * const text = await Effect.runPromise(
 *   Prometheus.format().pipe(
 *     Effect.provide(Metrics.layer({ aggregateIsolates: { channel: "docs-example", timeout: "250 millis" } })),
 *   ),
 * )
 * assert.match(text, /stagetrace_metric_isolates\{status="fresh"\} 1/)
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export interface AggregateIsolatesOptions {
  /**
   * The `BroadcastChannel` the isolates meet on: isolates (and layers) that use the same name aggregate
   * together, so give each independent application its own.
   * @default `"stagetrace:metrics:" + Deno.mainModule` (shared by the workers of one `deno serve --parallel`)
   */
  readonly channel?: string | undefined
  /**
   * How long a scrape waits for the other isolates' answers, at most 60 seconds. An isolate that does
   * not answer in time is served with its last known values and counted in
   * `stagetrace_metric_isolate_timeouts_total`; the next scrapes do not wait for it until it answers again.
   * @default "500 millis"
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Metric options of `Telemetry.layer` (and of `Metrics.layer`).
 *
 * @category configuration
 * @since 0.1.0
 */
export interface MetricsOptions {
  /**
   * `false` turns every metric update into a no-op (statistics and spans still work).
   * @default true
   */
  readonly metricsEnabled?: boolean | undefined
  /**
   * Distinct label sets kept per metric; later ones are recorded into one overflow series labelled
   * `otel_metric_overflow="true"` and counted by `stagetrace_metric_series_overflow_total{metric}`.
   * @default 2000
   */
  readonly maxSeriesPerMetric?: number | undefined
  /**
   * Counter and histogram series not updated for this long are evicted (gauges hold a current value and
   * are kept). `Duration.infinity` keeps every series.
   * @default "1 hour"
   */
  readonly seriesTtl?: Duration.Input | undefined
  /**
   * Bucket upper bounds of `stagetrace_stage_duration_seconds` and `stagetrace_request_duration_seconds`,
   * in seconds, strictly increasing.
   * @default [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
   */
  readonly stageDurationBuckets?: ReadonlyArray<number> | undefined
  /**
   * Report the process' memory (`system_memory_usage_bytes{type}`) and CPU usage
   * (`system_cpu_usage_percent`) at every scrape. A series of these two gauges that your code sets
   * (`Metrics.set(MetricCatalogue.systemCpuUsagePercent, …)`) is yours from then on: the sampler no longer
   * writes it, and keeps refreshing the others.
   * @default true
   */
  readonly systemMetrics?: boolean | undefined
  /**
   * Serve `/metrics` for Prometheus for the life of the layer: `true` for the defaults
   * (127.0.0.1:9464), or the server options.
   * @default false
   */
  readonly prometheus?: boolean | ServerOptions | undefined
  /**
   * Answer scrapes for every isolate of the process, for `deno serve --parallel` (where each worker
   * isolate has its own metrics and a scrape of the shared port reaches one of them at random): the
   * isolate that gets a scrape (or runs `Prometheus.format`) asks the others over a `BroadcastChannel`,
   * waits at most `timeout`, and serves their metrics merged — counters and histograms summed, gauges as
   * their definition's `aggregation` says. Every isolate may start the `prometheus` server: the first to
   * bind its port serves it for all of them, and the others check over the channel that an isolate (not a
   * stranger) holds it. With a single isolate nothing waits. `true` for the defaults.
   * @default false
   */
  readonly aggregateIsolates?: boolean | AggregateIsolatesOptions | undefined
}

/** Validated aggregation options. */
export interface AggregateConfig {
  readonly channel: string
  readonly timeoutMs: number
}

/** Validated handler options. */
export interface HandlerConfig {
  readonly bearerToken: Redacted.Redacted<string> | undefined
  readonly format: FormatChoice
}

/** Validated server options. */
export interface ServerConfig extends HandlerConfig {
  readonly port: number
  readonly hostname: string
  readonly path: string
}

/** Validated metric options. */
export interface MetricsConfig {
  readonly enabled: boolean
  readonly maxSeriesPerMetric: number
  readonly seriesTtlMs: number
  readonly stageDuration: DefinitionImpl
  readonly requestDuration: DefinitionImpl
  readonly systemMetrics: boolean
  readonly prometheus: ServerConfig | undefined
  readonly aggregate: AggregateConfig | undefined
}

/** Default values. */
export const defaults = {
  maxSeriesPerMetric: 2000,
  seriesTtlMs: 3_600_000,
  port: 9464,
  hostname: "127.0.0.1",
  path: "/metrics",
  aggregateTimeoutMs: 500,
} as const

/** The default channel of `aggregateIsolates`: one per main module. */
export const defaultChannel = (): string => {
  let main = ""
  try {
    main = Deno.mainModule
  } catch {
    // not readable here: one channel for the process
  }
  return "stagetrace:metrics:" + main
}

/** Validates `aggregateIsolates`. */
export const validateAggregateOptions = (
  value: boolean | AggregateIsolatesOptions | undefined,
): Effect.Effect<AggregateConfig | undefined, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (value === undefined || value === false) return undefined
    if (value !== true && (typeof value !== "object" || value === null)) {
      return yield* Effect.fail(
        optionError("aggregateIsolates", value, "Expected a boolean or { channel, timeout }"),
      )
    }
    const options = value === true ? {} : value
    const channel = options.channel ?? defaultChannel()
    if (typeof channel !== "string" || channel.trim() === "" || channel.length > 512) {
      return yield* Effect.fail(
        optionError(
          "aggregateIsolates.channel",
          channel,
          "Expected a non-empty name of at most 512 characters",
        ),
      )
    }
    const timeoutMs = (yield* durationOption("aggregateIsolates.timeout", options.timeout)) ??
      defaults.aggregateTimeoutMs
    if (!(timeoutMs > 0) || timeoutMs > 60_000) {
      return yield* Effect.fail(
        optionError("aggregateIsolates.timeout", options.timeout, "Expected a duration in (0, 60 seconds]"),
      )
    }
    return { channel, timeoutMs }
  })

const formatChoices: ReadonlyArray<FormatChoice> = ["negotiate", "text", "openmetrics"]

/** Validates handler options; `prefix` names the option path in errors (`prometheus.`). */
export const validateHandlerOptions = (
  options: HandlerOptions | undefined,
  prefix: string,
): Effect.Effect<HandlerConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    const bearerToken = yield* bearerTokenOption(
      `${prefix}bearerToken`,
      options?.bearerToken,
      (raw) => raw.trim() !== "" && !/\s/.test(raw),
      "Expected a non-empty token without spaces",
    )
    const format = options?.format ?? "negotiate"
    if (!formatChoices.includes(format)) {
      return yield* Effect.fail(
        optionError(`${prefix}format`, format, `Expected one of ${formatChoices.join(", ")}`),
      )
    }
    return { bearerToken, format }
  })

/** Validates server options. */
export const validateServerOptions = (
  options: ServerOptions | undefined,
  prefix: string,
): Effect.Effect<ServerConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    const handler = yield* validateHandlerOptions(options, prefix)
    const port = options?.port ?? defaults.port
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* Effect.fail(optionError(`${prefix}port`, port, "Expected an integer port in [0, 65535]"))
    }
    const hostname = yield* option(`${prefix}hostname`, NonEmpty, options?.hostname, defaults.hostname)
    const path = options?.path ?? defaults.path
    if (typeof path !== "string" || !path.startsWith("/")) {
      return yield* Effect.fail(optionError(`${prefix}path`, path, 'Expected a path starting with "/"'))
    }
    return { ...handler, port, hostname, path }
  })

/** Validates a duration option where `Duration.infinity` (or `Infinity`) means "never". */
const ttlOption = (
  name: string,
  value: Duration.Input | undefined,
): Effect.Effect<number, TelemetryConfigError> => {
  if (value === undefined) return Effect.succeed(defaults.seriesTtlMs)
  const decoded = Duration.fromInput(value)
  if (Option.isNone(decoded)) {
    return Effect.fail(optionError(name, value, 'Expected a duration such as "10 minutes"'))
  }
  const ms = Duration.toMillis(decoded.value)
  if (!(ms > 0)) return Effect.fail(optionError(name, value, "Expected a positive duration"))
  return Effect.succeed(ms)
}

/** Validates the metric options of `Telemetry.layer` / `Metrics.layer`. */
export const validateMetricsOptions = (
  options: MetricsOptions,
): Effect.Effect<MetricsConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    const enabled = yield* option("metricsEnabled", Bool, options.metricsEnabled, true)
    const maxSeriesPerMetric = yield* option(
      "maxSeriesPerMetric",
      PositiveInt,
      options.maxSeriesPerMetric,
      defaults.maxSeriesPerMetric,
    )
    const seriesTtlMs = yield* ttlOption("seriesTtl", options.seriesTtl)
    let stageDuration: DefinitionImpl = stageDurationDef
    let requestDuration: DefinitionImpl = requestDurationDef
    if (options.stageDurationBuckets !== undefined) {
      const exit = validate({
        name: stageDurationDef.name,
        type: "histogram",
        description: stageDurationDef.description,
        unit: "seconds",
        labels: stageDurationDef.labels,
        buckets: options.stageDurationBuckets,
      })
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
        return yield* Effect.fail(
          optionError(
            "stageDurationBuckets",
            options.stageDurationBuckets,
            reason?._tag === "Fail" ? reason.error.reason : "Invalid buckets",
          ),
        )
      }
      stageDuration = exit.value
      requestDuration = new DefinitionImpl({
        name: requestDurationDef.name,
        type: "histogram",
        description: requestDurationDef.description,
        unit: "seconds",
        labels: requestDurationDef.labels,
        buckets: exit.value.buckets,
      })
    }
    const systemMetrics = yield* option("systemMetrics", Bool, options.systemMetrics, true)
    const server = options.prometheus
    let prometheus: ServerConfig | undefined
    if (server === true) prometheus = yield* validateServerOptions({}, "prometheus.")
    else if (server !== undefined && server !== false) {
      if (typeof server !== "object" || server === null) {
        return yield* Effect.fail(optionError("prometheus", server, "Expected a boolean or server options"))
      }
      prometheus = yield* validateServerOptions(server, "prometheus.")
    }
    const aggregate = yield* validateAggregateOptions(options.aggregateIsolates)
    return {
      enabled,
      maxSeriesPerMetric,
      seriesTtlMs,
      stageDuration,
      requestDuration,
      systemMetrics,
      prometheus,
      aggregate,
    }
  })

/** The default stage buckets (for docs and tests). */
export const defaultStageBuckets: ReadonlyArray<number> = stageBuckets

// ---------------------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------------------

/** Environment variables of the metrics concern. */
export const environmentVariables: ReadonlyArray<string> = [
  "STAGETRACE_METRICS_ENABLED",
  "ENABLE_METRICS",
  "STAGETRACE_METRICS_MAX_SERIES_PER_METRIC",
  "STAGETRACE_METRICS_SERIES_TTL",
  "STAGETRACE_SYSTEM_METRICS",
  "OTEL_METRICS_EXPORTER",
  "OTEL_EXPORTER_PROMETHEUS_HOST",
  "OTEL_EXPORTER_PROMETHEUS_PORT",
  "STAGETRACE_PROMETHEUS_BEARER_TOKEN",
  "STAGETRACE_METRICS_AGGREGATE_ISOLATES",
]

/** A duration variable: a number of milliseconds or a duration such as `10 minutes`; `infinity` disables. */
const envDuration = (
  env: Env,
  name: string,
): Effect.Effect<Duration.Input | undefined, TelemetryConfigError> => {
  const raw = envString(env, [name])
  if (raw === undefined) return Effect.succeed(undefined)
  if (/^\d+(\.\d+)?$/.test(raw)) return Effect.succeed(Duration.millis(Number(raw)))
  if (raw.toLowerCase() === "infinity") return Effect.succeed(Duration.infinity)
  const decoded = Duration.fromInput(raw as Duration.Input)
  return Option.isSome(decoded) && Duration.toMillis(decoded.value) > 0
    ? Effect.succeed(decoded.value)
    : Effect.fail(envError(name, raw, 'Expected milliseconds or a duration such as "10 minutes"'))
}

/** Metric options from environment variables; only the fields that are set. */
export const fromEnv = (env: Env): Effect.Effect<Partial<MetricsOptions>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const out: { -readonly [K in keyof MetricsOptions]: MetricsOptions[K] } = {}
    const enabled = yield* envBoolean(env, ["STAGETRACE_METRICS_ENABLED", "ENABLE_METRICS"])
    if (enabled !== undefined) out.metricsEnabled = enabled
    const maxSeries = yield* envNumber(env, ["STAGETRACE_METRICS_MAX_SERIES_PER_METRIC"], PositiveInt)
    if (maxSeries !== undefined) out.maxSeriesPerMetric = maxSeries
    const ttl = yield* envDuration(env, "STAGETRACE_METRICS_SERIES_TTL")
    if (ttl !== undefined) out.seriesTtl = ttl
    const system = yield* envBoolean(env, ["STAGETRACE_SYSTEM_METRICS"])
    if (system !== undefined) out.systemMetrics = system
    const exporters = envString(env, ["OTEL_METRICS_EXPORTER"])
    const listed = exporters !== undefined &&
      exporters.split(",").some((e) => e.trim().toLowerCase() === "prometheus")
    const host = envString(env, ["OTEL_EXPORTER_PROMETHEUS_HOST"])
    const portRaw = envString(env, ["OTEL_EXPORTER_PROMETHEUS_PORT"])
    let port: number | undefined
    if (portRaw !== undefined) {
      port = Number(portRaw)
      if (!/^\d+$/.test(portRaw) || port > 65535) {
        return yield* Effect.fail(
          envError("OTEL_EXPORTER_PROMETHEUS_PORT", portRaw, "Expected a port in [0, 65535]"),
        )
      }
    }
    const aggregate = yield* envBoolean(env, ["STAGETRACE_METRICS_AGGREGATE_ISOLATES"])
    if (aggregate !== undefined) out.aggregateIsolates = aggregate
    const token = envString(env, ["STAGETRACE_PROMETHEUS_BEARER_TOKEN"])
    if (listed || port !== undefined) {
      const server: { -readonly [K in keyof ServerOptions]: ServerOptions[K] } = {}
      if (host !== undefined) server.hostname = host === "localhost" ? "127.0.0.1" : host
      if (port !== undefined) server.port = port
      if (token !== undefined) server.bearerToken = Redacted.make(token)
      out.prometheus = server
    }
    return out
  })
