/**
 * The export concern of `Telemetry.layer`: validates `exporters`, builds one bounded pipeline per
 * exporter and signal, installs the recording tracer (the sampling concern wraps it), the summary sinks
 * and the OTLP log and metric sources, publishes its counters (`ExportStatsSlot`, self-metrics), and on
 * scope close ends open spans as interrupted and flushes everything within `shutdownTimeout`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import {
  Bool,
  durationOption,
  NonEmpty,
  NonNegativeInt,
  option,
  optionalOption,
  optionError,
  positiveDurationOption,
  PositiveInt,
  readEnv,
  StringRecord,
  type TelemetryConfigError,
} from "../../internal/config.ts"
import { denoTracesFetch } from "../../internal/killSwitch.ts"
import type { Recorder, ServiceDescription } from "../../internal/recorder.ts"
import { ExportStatsSlot, type RedactorLike, RedactorSlot } from "../../internal/slots.ts"
import type { Concern, Installed } from "../../internal/concern.ts"
import type * as Exporter from "../Exporter.ts"
import type { RequestSummary } from "../../stage/Request.ts"
import {
  type ChannelConfig,
  ExportChannel,
  fetchPost,
  headerProblem,
  type Post,
  rawPost,
  type Transport,
} from "./channel.ts"
import { exportEnvironmentVariables, exportersFromEnv } from "./env.ts"
import { GrpcConnections, grpcMetadata, grpcTransport, parseGrpcTarget } from "./grpc.ts"
import { denoOtelEnabled, makeDenoBase, makeSdkBase, type OtelBase, scopeVersion } from "./otel.ts"
import {
  encodeLogsJson,
  encodeLogsProto,
  encodeMetricsJson,
  encodeMetricsProto,
  type LogItem,
  type MetricBatch,
} from "./otlpSignals.ts"
import {
  encodeEncodedTracesJson,
  encodeEncodedTracesProto,
  type FinishedSpan,
  jsonResourceAndScope,
  jsonSpanBytes,
  type OtlpResource,
  protoResourceAndScope,
  protoSpan,
  ProtoSpanCache,
} from "./otlpTraces.ts"
import { type ByteWriter, JsonWriter, ProtoWriter, type SlabRecord } from "./protobuf.ts"
import { type DropReason, dropReasons, ExportStats, grpcRejections, signals } from "./stats.ts"
import { consoleHandler, isKept, JsonlFiles, jsonlHandler, SummaryWorker } from "./summaries.ts"
import * as daemon from "../../internal/daemon.ts"
import { makeRecordingTracer, SpanPipeline } from "./tracer.ts"

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

/** The options this concern adds to `TelemetryOptions` (defined with the public models). */
export type ExportOptions = Exporter.ExportOptions

/** The defaults of the OTLP exporter. */
export const otlpDefaults = {
  endpoint: "http://localhost:4318",
  grpcEndpoint: "http://localhost:4317",
  protocol: "http/protobuf",
  compression: "none",
  timeoutMs: 10_000,
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  maxConcurrentExports: 4,
  scheduleDelayMs: 5_000,
  exportTimeoutMs: 30_000,
  metricExportIntervalMs: 60_000,
  initialBackoffMs: 1_000,
  maxBackoffMs: 30_000,
  shutdownTimeoutMs: 5_000,
} as const

/** A validated `Exporter.otlp`. */
export interface ResolvedOtlp {
  /** OTLP/HTTP: the URL of each signal; OTLP/gRPC: the origin of each signal's target. */
  readonly urls: Readonly<Record<Exporter.OtlpSignal, string>>
  readonly protocol: "http/protobuf" | "http/json" | "grpc"
  /** HTTP headers, or gRPC metadata (names lowercased). */
  readonly headers: Readonly<Record<string, string>>
  /** gRPC: PEM certificate(s) trusted for the receiver's TLS certificate. */
  readonly certificate: string | undefined
  readonly compression: "gzip" | "none"
  readonly timeoutMs: number
  readonly signals: ReadonlySet<Exporter.OtlpSignal>
  readonly implementation: "effect" | "otel-sdk"
  readonly maxQueueSize: number
  readonly maxExportBatchSize: number
  readonly maxConcurrentExports: number
  readonly scheduleDelayMs: number
  readonly exportTimeoutMs: number
  readonly metricExportIntervalMs: number
}

const checkUrl = (name: string, value: string): Effect.Effect<string, TelemetryConfigError> => {
  try {
    const parsed = new URL(value)
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return Effect.succeed(value)
  } catch {
    // Reported below.
  }
  return Effect.fail(optionError(name, value, "Expected an http:// or https:// URL"))
}

/** Checks an OTLP/gRPC target (see `parseGrpcTarget`) and returns its origin. */
const checkTarget = (
  name: string,
  value: string,
  insecure: boolean,
): Effect.Effect<string, TelemetryConfigError> => {
  const target = parseGrpcTarget(value, insecure)
  return target === undefined
    ? Effect.fail(optionError(name, value, "Expected an http:// or https:// URL, or host:port"))
    : Effect.succeed(target.origin)
}

/** Appends the signal path to a base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` requires. */
export const signalUrl = (base: string, signal: Exporter.OtlpSignal): string =>
  `${base.endsWith("/") ? base : base + "/"}v1/${signal}`

const literal = <L extends string>(
  name: string,
  value: unknown,
  values: ReadonlyArray<L>,
  fallback: L,
): Effect.Effect<L, TelemetryConfigError> =>
  value === undefined
    ? Effect.succeed(fallback)
    : values.includes(value as L)
    ? Effect.succeed(value as L)
    : Effect.fail(optionError(name, value, `Expected one of ${values.join(", ")}`))

/** Validates `Exporter.otlp` options; `path` names the option in errors (`exporters[0]`). */
export const resolveOtlp = (
  path: string,
  options: Exporter.OtlpOptions,
): Effect.Effect<ResolvedOtlp, TelemetryConfigError> =>
  Effect.gen(function* () {
    const protocol = yield* literal(
      `${path}.protocol`,
      options.protocol,
      ["http/protobuf", "http/json", "grpc"],
      "http/protobuf",
    )
    const grpc = protocol === "grpc"
    const insecure = yield* option(`${path}.insecure`, Bool, options.insecure, false)
    const endpoint = yield* option(
      `${path}.endpoint`,
      NonEmpty,
      options.endpoint,
      grpc ? otlpDefaults.grpcEndpoint : otlpDefaults.endpoint,
    )
    const base = grpc ? yield* checkTarget(`${path}.endpoint`, endpoint, insecure) : yield* checkUrl(
      `${path}.endpoint`,
      endpoint,
    )
    const own = (signal: Exporter.OtlpSignal, value: string | undefined) =>
      grpc
        ? value === undefined
          ? Effect.succeed(base)
          : checkTarget(`${path}.${signal}Endpoint`, value, insecure)
        : value === undefined
        ? Effect.succeed(signalUrl(base, signal))
        : checkUrl(`${path}.${signal}Endpoint`, value)
    const urls = {
      traces: yield* own("traces", options.tracesEndpoint),
      metrics: yield* own("metrics", options.metricsEndpoint),
      logs: yield* own("logs", options.logsEndpoint),
    }
    const signalList = options.signals ?? ["traces", "metrics", "logs"]
    if (
      !Array.isArray(signalList) || signalList.some((s) => s !== "traces" && s !== "metrics" && s !== "logs")
    ) {
      return yield* Effect.fail(
        optionError(`${path}.signals`, options.signals, "Expected a list of traces, metrics, logs"),
      )
    }
    const maxQueueSize = yield* option(
      `${path}.maxQueueSize`,
      PositiveInt,
      options.maxQueueSize,
      otlpDefaults.maxQueueSize,
    )
    const maxExportBatchSize = yield* option(
      `${path}.maxExportBatchSize`,
      PositiveInt,
      options.maxExportBatchSize,
      Math.min(otlpDefaults.maxExportBatchSize, maxQueueSize),
    )
    if (maxExportBatchSize > maxQueueSize) {
      return yield* Effect.fail(
        optionError(
          `${path}.maxExportBatchSize`,
          maxExportBatchSize,
          `Expected at most maxQueueSize (${maxQueueSize})`,
        ),
      )
    }
    const maxConcurrentExports = yield* option(
      `${path}.maxConcurrentExports`,
      PositiveInt,
      options.maxConcurrentExports,
      otlpDefaults.maxConcurrentExports,
    )
    const metricInterval = yield* positiveDurationOption(
      `${path}.metricExportInterval`,
      options.metricExportInterval,
    )
    const implementation = yield* literal(
      `${path}.implementation`,
      options.implementation,
      ["effect", "otel-sdk"],
      "effect",
    )
    if (grpc && implementation === "otel-sdk" && signalList.includes("traces")) {
      return yield* Effect.fail(
        optionError(
          `${path}.implementation`,
          implementation,
          'The OpenTelemetry SDK path sends OTLP/HTTP only: use implementation "effect" with protocol "grpc"',
        ),
      )
    }
    const certificate = yield* optionalOption(`${path}.certificate`, NonEmpty, options.certificate)
    if (certificate !== undefined && !grpc) {
      return yield* Effect.fail(
        optionError(`${path}.certificate`, "(PEM)", 'Only protocol "grpc" takes a certificate'),
      )
    }
    if (certificate !== undefined && !certificate.includes("-----BEGIN CERTIFICATE-----")) {
      return yield* Effect.fail(
        optionError(`${path}.certificate`, "(not PEM)", "Expected PEM text (-----BEGIN CERTIFICATE-----)"),
      )
    }
    return {
      urls,
      protocol,
      certificate,
      headers: yield* Effect.flatMap(
        option(`${path}.headers`, StringRecord, options.headers, {}),
        (headers): Effect.Effect<Readonly<Record<string, string>>, TelemetryConfigError> => {
          if (grpc) {
            const checked = grpcMetadata(headers)
            return "problem" in checked
              ? Effect.fail(optionError(`${path}.headers`, headers, checked.problem))
              : Effect.succeed(checked.metadata)
          }
          const problem = headerProblem(headers)
          return problem === undefined
            ? Effect.succeed(headers)
            : Effect.fail(optionError(`${path}.headers`, headers, problem))
        },
      ),
      compression: yield* literal(`${path}.compression`, options.compression, ["gzip", "none"], "none"),
      // A zero timeout would fail every request after a millisecond: it is an error, not "no limit".
      timeoutMs: (yield* positiveDurationOption(`${path}.timeout`, options.timeout)) ??
        otlpDefaults.timeoutMs,
      signals: new Set(signalList),
      implementation,
      maxQueueSize,
      maxExportBatchSize,
      maxConcurrentExports,
      scheduleDelayMs: (yield* durationOption(`${path}.scheduleDelay`, options.scheduleDelay)) ??
        otlpDefaults.scheduleDelayMs,
      exportTimeoutMs: (yield* positiveDurationOption(`${path}.exportTimeout`, options.exportTimeout)) ??
        otlpDefaults.exportTimeoutMs,
      metricExportIntervalMs: metricInterval ?? otlpDefaults.metricExportIntervalMs,
    }
  })

// ---------------------------------------------------------------------------------------------------------
// Resource
// ---------------------------------------------------------------------------------------------------------

/** The OTLP resource of a service: resource attributes, then service fields, then SDK fields. */
export const resourceOf = (service: ServiceDescription): OtlpResource => {
  const attributes: Record<string, string> = { ...service.resourceAttributes }
  attributes["service.name"] = service.serviceName
  if (service.serviceVersion !== undefined) attributes["service.version"] = service.serviceVersion
  if (service.environment !== undefined) attributes["deployment.environment.name"] = service.environment
  attributes["telemetry.sdk.name"] = "stagetrace"
  attributes["telemetry.sdk.language"] = "nodejs"
  attributes["telemetry.sdk.version"] = scopeVersion
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno
  if (deno?.version?.deno !== undefined) {
    attributes["process.runtime.name"] = "deno"
    attributes["process.runtime.version"] = deno.version.deno
  }
  return { attributes: Object.entries(attributes), scopeName: "stagetrace", scopeVersion }
}

// ---------------------------------------------------------------------------------------------------------
// Self-metrics
// ---------------------------------------------------------------------------------------------------------

const droppedTotal = Metric.counter("stagetrace_export_dropped_total", {
  description: "Telemetry items dropped by the export pipeline, by signal and reason",
  incremental: true,
})
const failuresTotal = Metric.counter("stagetrace_export_failures_total", {
  description: "Export requests that failed after their retries",
  incremental: true,
})

const registerSelfMetrics = (stats: ExportStats, grpc: boolean): Effect.Effect<void, never, Scope.Scope> =>
  Effect.withFiber((fiber) => {
    const registrations = [
      Metric.registerUnsafe(failuresTotal, fiber.context, {
        get: () => ({ count: stats.failures, incremental: true }),
        update: () => {},
        modify: () => {},
      }),
    ]
    // The gRPC rejection reasons exist only where a gRPC exporter can produce them.
    const reasons: ReadonlyArray<DropReason> = grpc ? [...dropReasons, ...grpcRejections] : dropReasons
    for (const signal of signals) {
      for (const reason of reasons) {
        if (signal === "summaries" && reason.startsWith("rejected_")) continue
        registrations.push(
          Metric.registerUnsafe(Metric.withAttributes(droppedTotal, { signal, reason }), fiber.context, {
            get: () => ({ count: stats.droppedCount(signal, reason), incremental: true }),
            update: () => {},
            modify: () => {},
          }),
        )
      }
    }
    return Effect.addFinalizer(() => Effect.sync(() => registrations.forEach((r) => r.remove())))
  })

// ---------------------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------------------

const severities: Readonly<Record<string, [number, string]>> = {
  Trace: [1, "TRACE"],
  Debug: [5, "DEBUG"],
  Info: [9, "INFO"],
  Warn: [13, "WARN"],
  Warning: [13, "WARN"],
  Error: [17, "ERROR"],
  Fatal: [21, "FATAL"],
}

/** A logger that enqueues every record into the OTLP log channels (bounded; drops are counted). */
const otlpLogger = (channels: ReadonlyArray<ExportChannel<LogItem>>) =>
  Logger.make((options) => {
    const [severityNumber, severityText] = severities[options.logLevel] ??
      [9, String(options.logLevel).toUpperCase()]
    const message = options.message
    const body = Array.isArray(message) && message.length === 1 ? message[0] : message
    const attributes: Array<[string, unknown]> = []
    const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
    for (const key in annotations) attributes.push([key, annotations[key]])
    if (options.cause.reasons.length > 0) attributes.push(["exception.message", Cause.pretty(options.cause)])
    const span = options.fiber.cache.span
    const item: LogItem = {
      timeNanos: BigInt(options.date.getTime()) * 1_000_000n,
      severityNumber,
      severityText,
      body,
      attributes,
      traceId: span?.traceId,
      spanId: span?.spanId,
    }
    for (const channel of channels) channel.offer(item)
  })

// ---------------------------------------------------------------------------------------------------------
// Install
// ---------------------------------------------------------------------------------------------------------

/** How spans from open requests are tracked for shutdown: at most this many live open spans. */
const openSpanCapacity = 16_384

/** Internal knobs for tests: the transport and the random source of the backoff jitter. */
export interface InstallOverrides {
  readonly post?: Post | undefined
  readonly random?: (() => number) | undefined
}

/** Size of the shared buffers encoded spans are views of. */
const slabSize = 256 * 1024

/** Encodes one finished span into `writer`'s slabs (a throw leaves nothing behind). */
const slabEncoder = <W extends ProtoWriter | JsonWriter>(
  writer: W,
  write: (writer: W, span: FinishedSpan, redactor: RedactorLike | undefined) => void,
  redactor: () => RedactorLike | undefined,
) =>
(span: FinishedSpan): SlabRecord => {
  writer.startRecord(slabSize)
  try {
    write(writer, span, redactor())
  } catch (error) {
    writer.discardRecord()
    throw error
  }
  return writer.takeRecord()
}

/** Reports `records` (from `slabs`) consumed once `body` holds them; returns `body`. */
const consumedAfter = (
  slabs: ByteWriter,
  records: ReadonlyArray<SlabRecord>,
  body: Uint8Array,
): Uint8Array => {
  for (let i = 0; i < records.length; i++) slabs.consumed(records[i]!)
  return body
}

/** `protoSpan` reusing `cache` (one per encoder). */
const protoSpanWith =
  (cache: ProtoSpanCache) => (w: ProtoWriter, span: FinishedSpan, redactor: RedactorLike | undefined): void =>
    protoSpan(w, span, redactor, cache)

/** Installs the export concern (see the module description). */
export const installExport = (
  recorder: Recorder,
  options: ExportOptions,
  overrides: InstallOverrides = {},
): Effect.Effect<Installed, TelemetryConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const shutdownTimeoutMs = (yield* durationOption("shutdownTimeout", options.shutdownTimeout)) ??
      otlpDefaults.shutdownTimeoutMs
    const given = options.exporters ?? []
    if (!Array.isArray(given)) {
      return yield* Effect.fail(optionError("exporters", given, "Expected an array of exporters"))
    }
    const exporters = [...given, ...(options.environmentExporters ?? [])]
    if (exporters.length === 0) return {}

    // Validate everything before starting anything.
    const resolved: Array<ResolvedOtlp | undefined> = []
    let otelBases = 0
    for (let i = 0; i < exporters.length; i++) {
      const exporter = exporters[i] as Exporter.Exporter | undefined
      const path = `exporters[${i}]`
      switch (exporter?._tag) {
        case "Otlp": {
          const r = yield* resolveOtlp(path, exporter.options ?? {})
          if (r.implementation === "otel-sdk" && r.signals.has("traces")) otelBases++
          resolved.push(r)
          break
        }
        case "DenoNative":
          otelBases++
          resolved.push(undefined)
          break
        case "Console":
          yield* literal(`${path}.format`, exporter.options.format, ["pretty", "json"], "pretty")
          yield* option(`${path}.width`, PositiveInt, exporter.options.width, 40)
          yield* filterOption(`${path}.filter`, exporter.options.filter)
          resolved.push(undefined)
          break
        case "Jsonl":
          yield* option(`${path}.dir`, NonEmpty, exporter.options.dir, undefined)
          yield* option(`${path}.retentionDays`, NonNegativeInt, exporter.options.retentionDays, 30)
          yield* option(`${path}.maxQueueSize`, PositiveInt, exporter.options.maxQueueSize, 2048)
          yield* filterOption(`${path}.filter`, exporter.options.filter)
          resolved.push(undefined)
          break
        case "Memory":
          resolved.push(undefined)
          break
        default:
          return yield* Effect.fail(optionError(path, exporter, "Expected a value from Exporter.*"))
      }
    }
    if (otelBases > 1) {
      return yield* Effect.fail(
        optionError(
          "exporters",
          exporters.map((e) => e._tag),
          'Exporter.denoNative() and Exporter.otlp({ implementation: "otel-sdk" }) each own span creation: use one of them',
        ),
      )
    }

    const clock = yield* Clock.Clock
    const context = yield* Effect.context<never>()
    const stats = new ExportStats()
    recorder.set(ExportStatsSlot, () => stats.snapshot())
    yield* registerSelfMetrics(stats, resolved.some((r) => r?.protocol === "grpc"))
    const service = recorder.config.service
    const resource = resourceOf(service)
    const redactor = () => recorder.get(RedactorSlot)
    const pipeline = new SpanPipeline(openSpanCapacity)
    const startNanos = clock.currentTimeNanosUnsafe()

    let base: OtelBase | undefined
    let denoActive = false
    const spanChannels: Array<ExportChannel<SlabRecord>> = []
    const metricChannels: Array<ExportChannel<MetricBatch>> = []
    const logChannels: Array<ExportChannel<LogItem>> = []
    const workers: Array<SummaryWorker> = []
    const jsonlFiles: Array<JsonlFiles> = []
    const layers: Array<Layer.Layer<never>> = []
    let tracesWanted = false
    /** Whether a span sink reads attribute maps (the OTLP encoders encode deferred pairs as they are). */
    let readsMaps = false

    for (let i = 0; i < exporters.length; i++) {
      const exporter = exporters[i]!
      if (exporter._tag === "DenoNative") {
        if (denoOtelEnabled(readEnv(["OTEL_DENO", "OTEL_SDK_DISABLED"]))) {
          base = yield* makeDenoBase()
          denoActive = true
          tracesWanted = true
        }
      }
    }
    // Under Deno's OpenTelemetry every fetch is traced, the telemetry's own export calls included (with or
    // without Exporter.denoNative()): send them over a plain TCP connection instead.
    const post: Post = overrides.post ?? (denoActive || denoTracesFetch ? rawPost : fetchPost)
    const grpcConnections = new GrpcConnections()

    for (let i = 0; i < exporters.length; i++) {
      const exporter = exporters[i]!
      switch (exporter._tag) {
        case "Otlp": {
          const r = resolved[i]!
          const json = r.protocol === "http/json"
          const grpc = r.protocol === "grpc"
          // OTLP/gRPC: each signal's transport over the layer's connection to its endpoint.
          const transport = (signal: Exporter.OtlpSignal): Post | Transport =>
            grpc
              ? grpcTransport(grpcConnections.get(r.urls[signal], { ca: r.certificate }), signal, r.headers)
              : post
          const writer = new ProtoWriter()
          const jsonWriter = new JsonWriter()
          const protoCached = protoResourceAndScope(writer, resource)
          const jsonCached = jsonResourceAndScope(resource)
          const encoder = new TextEncoder()
          const channelConfig = (
            signal: Exporter.OtlpSignal,
            queue: number,
            batch: number,
            delay: number,
            concurrent: number,
          ): ChannelConfig => ({
            signal,
            url: r.urls[signal],
            contentType: grpc ? "application/grpc" : json ? "application/json" : "application/x-protobuf",
            headers: r.headers,
            compression: r.compression,
            timeoutMs: r.timeoutMs,
            exportTimeoutMs: r.exportTimeoutMs,
            maxBatchSize: batch,
            scheduleDelayMs: delay,
            maxQueueSize: queue,
            maxConcurrentExports: concurrent,
            initialBackoffMs: otlpDefaults.initialBackoffMs,
            maxBackoffMs: otlpDefaults.maxBackoffMs,
          })
          if (r.signals.has("traces")) {
            tracesWanted = true
            if (r.implementation === "otel-sdk") {
              base = yield* makeSdkBase({
                url: r.urls.traces,
                // resolveOtlp refuses "otel-sdk" with grpc traces.
                protocol: json ? "http/json" : "http/protobuf",
                headers: r.headers,
                compression: r.compression,
                timeoutMs: r.timeoutMs,
                maxQueueSize: r.maxQueueSize,
                maxExportBatchSize: r.maxExportBatchSize,
                scheduleDelayMs: r.scheduleDelayMs,
                exportTimeoutMs: r.exportTimeoutMs,
                resource: Object.fromEntries(resource.attributes) as Record<string, string>,
              })
            } else {
              // Spans are encoded when they end and queued as bytes (views of shared slabs): the queue
              // holds no span objects, so spans die young, and a batch is the spans' bytes in an envelope.
              // Once a batch is in its envelope its spans' bytes are never read again: their slabs may be
              // written again (the channel encodes each batch once).
              const slabs = json ? new JsonWriter(slabSize) : new ProtoWriter(slabSize)
              const channel = new ExportChannel<SlabRecord>(
                channelConfig(
                  "traces",
                  r.maxQueueSize,
                  r.maxExportBatchSize,
                  r.scheduleDelayMs,
                  r.maxConcurrentExports,
                ),
                json
                  ? (spans) =>
                    consumedAfter(slabs, spans, encodeEncodedTracesJson(jsonWriter, jsonCached, spans))
                  : (spans) =>
                    consumedAfter(slabs, spans, encodeEncodedTracesProto(writer, protoCached, spans)),
                stats,
                clock,
                transport("traces"),
                overrides.random,
              )
              spanChannels.push(channel)
              const encodeSpan = json
                ? slabEncoder(slabs as JsonWriter, jsonSpanBytes, redactor)
                : slabEncoder(slabs as ProtoWriter, protoSpanWith(new ProtoSpanCache()), redactor)
              pipeline.sinks.push((span) => channel.offerWith(span, encodeSpan))
            }
          }
          if (r.signals.has("metrics")) {
            const channel = new ExportChannel<MetricBatch>(
              // One export at a time: cumulative points must reach the receiver in order.
              channelConfig("metrics", 8, 1, r.metricExportIntervalMs, 1),
              json
                ? (batches) => encoder.encode(encodeMetricsJson(jsonCached, batches, redactor()))
                : (batches) => encodeMetricsProto(writer, protoCached, batches, redactor()),
              stats,
              clock,
              transport("metrics"),
              overrides.random,
            )
            metricChannels.push(channel)
            const collect = Effect.sync(() =>
              channel.offer({
                snapshots: Metric.snapshotUnsafe(context),
                startNanos,
                timeNanos: clock.currentTimeNanosUnsafe(),
              })
            )
            yield* Effect.forkScoped(
              daemon.forever(Effect.andThen(Effect.sleep(r.metricExportIntervalMs), collect)),
            )
          }
          if (r.signals.has("logs")) {
            const channel = new ExportChannel<LogItem>(
              channelConfig(
                "logs",
                r.maxQueueSize,
                r.maxExportBatchSize,
                Math.min(1_000, r.scheduleDelayMs),
                r.maxConcurrentExports,
              ),
              json
                ? (logs) => encoder.encode(encodeLogsJson(jsonCached, logs, redactor()))
                : (logs) => encodeLogsProto(writer, protoCached, logs, redactor()),
              stats,
              clock,
              transport("logs"),
              overrides.random,
            )
            logChannels.push(channel)
          }
          break
        }
        case "Memory": {
          tracesWanted = true
          exporter.redactor = redactor
          exporter.metricContext = context
          pipeline.sinks.push((span) => exporter.recordSpan(span))
          // The memory exporter reads the attribute map.
          readsMaps = true
          recorder.summary.push((summary) => {
            // Redacted already, once, when the request ended.
            if (isKept(summary)) exporter.recordSummary(summary)
          })
          break
        }
        case "Console": {
          const worker = new SummaryWorker(
            1024,
            consoleHandler(
              exporter.options.format ?? "pretty",
              exporter.options.width ?? 40,
              service,
              stats,
              clock,
            ),
            stats,
          )
          workers.push(worker)
          const wanted = summaryFilter(exporter.options.filter, recorder)
          recorder.summary.push((summary) => {
            if (isKept(summary) && wanted(summary)) worker.offer(summary)
          })
          break
        }
        case "Jsonl": {
          const dir = exporter.options.dir
          const path = `exporters[${i}].dir`
          yield* Effect.tryPromise({
            try: () => Deno.mkdir(dir, { recursive: true }),
            catch: (error) => optionError(path, dir, `Cannot create the directory: ${String(error)}`),
          })
          const files = new JsonlFiles(dir, exporter.options.retentionDays ?? 30, clock)
          yield* Effect.tryPromise({
            try: () => files.cleanup(),
            catch: (error) => optionError(path, dir, `Cannot read the directory: ${String(error)}`),
          })
          jsonlFiles.push(files)
          const worker = new SummaryWorker(
            exporter.options.maxQueueSize ?? 2048,
            jsonlHandler(files, service, stats, clock),
            stats,
          )
          workers.push(worker)
          const wanted = summaryFilter(exporter.options.filter, recorder)
          recorder.summary.push((summary) => {
            if (isKept(summary) && wanted(summary)) worker.offer(summary)
          })
          break
        }
        case "DenoNative":
          break
      }
    }

    pipeline.settlePairs = readsMaps
    const channels: Array<{
      start(): Effect.Effect<void, never, Scope.Scope>
      shutdown(timeoutMs: number): Effect.Effect<void>
    }> = [...spanChannels, ...metricChannels, ...logChannels]
    for (const channel of channels) yield* channel.start()
    for (const worker of workers) yield* worker.start()
    if (logChannels.length > 0) {
      layers.push(Logger.layer([otlpLogger(logChannels)], { mergeWithExisting: true }))
    }

    // Shutdown: end open spans, take a last metric snapshot, drain everything in parallel.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const now = clock.currentTimeNanosUnsafe()
        pipeline.endOpen(now)
        for (const channel of metricChannels) {
          channel.offer({ snapshots: Metric.snapshotUnsafe(context), startNanos, timeNanos: now })
        }
        const drains: Array<Effect.Effect<void>> = [
          ...channels.map((c) => c.shutdown(shutdownTimeoutMs)),
          ...workers.map((w) => w.shutdown(shutdownTimeoutMs)),
        ]
        if (base !== undefined) {
          const shutdown = base.shutdown
          drains.push(
            Effect.promise(() => shutdown().catch(() => undefined)).pipe(
              Effect.timeoutOption(shutdownTimeoutMs),
              Effect.asVoid,
            ),
          )
        }
        yield* Effect.all(drains, { concurrency: "unbounded", discard: true })
        for (const files of jsonlFiles) files.close()
        // Every channel is done (or was cut off at the deadline, cancelling its call): close the gRPC
        // connections.
        if (grpcConnections.size > 0) yield* Effect.promise(() => grpcConnections.close())
      })
    )

    const otelTracer = base?.tracer
    return {
      layers,
      tracer: tracesWanted
        ? (inner: Tracer.Tracer) => makeRecordingTracer(otelTracer ?? inner, pipeline)
        : undefined,
    }
  })

/** The export concern. */
export const exportConcern: Concern<ExportOptions> = {
  name: "export",
  environmentVariables: exportEnvironmentVariables,
  fromEnv: (env) =>
    Effect.map(
      exportersFromEnv(env),
      (environmentExporters) => environmentExporters.length === 0 ? {} : { environmentExporters },
    ),
  install: (recorder, options) => installExport(recorder, options),
}

/** A summary filter option: a function, or absent. */
const filterOption = (name: string, value: unknown): Effect.Effect<void, TelemetryConfigError> =>
  value === undefined || typeof value === "function"
    ? Effect.void
    : Effect.fail(optionError(name, value, "Expected a function from a summary to a boolean"))

/** A user filter that can never throw into the recorder: a throw skips the summary and is counted. */
const summaryFilter = (
  filter: ((summary: RequestSummary) => boolean) | undefined,
  recorder: Recorder,
): (summary: RequestSummary) => boolean =>
  filter === undefined ? () => true : (summary) => {
    try {
      return filter(summary) === true
    } catch {
      recorder.countDrop("summary_filter_error")
      return false
    }
  }
