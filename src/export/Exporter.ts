/**
 * Exporters: where spans, request summaries, metrics and logs go. Each constructor returns a plain value
 * describing one destination; `Telemetry.layer({ exporters: [...] })` installs any number of them at
 * once (fan-out), each behind its own bounded queue, and flushes them all when the layer's scope closes.
 *
 * | exporter | signals | for |
 * | --- | --- | --- |
 * | `Exporter.otlp(options)` | traces, metrics, logs | an OpenTelemetry Collector, Jaeger, Tempo, Honeycomb… |
 * | `Exporter.denoNative()` | traces | Deno's built-in OpenTelemetry (`OTEL_DENO=true`) |
 * | `Exporter.console(options)` | request summaries | a stage waterfall per kept request on stdout |
 * | `Exporter.jsonl(options)` | request summaries | daily JSONL performance logs (`deno task report`) |
 * | `Exporter.memory()` | traces, summaries, metrics | reading back what was exported, in tests |
 *
 * Spans are exported when they end and are sampled; summaries when their request was kept
 * (`keptBecause`, or every request when no sampler is installed).
 *
 * Guide: [Export and OTLP](../../docs/export.md).
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import type * as Context from "effect/Context"
import type * as Tracer from "effect/Tracer"
import type { RequestSummary } from "../stage/Request.ts"
import type { RedactorLike } from "../internal/slots.ts"
import {
  exceptionEvent,
  type FinishedSpan,
  interruptedAttribute,
  outcomeOfExit,
} from "./internal/otlpTraces.ts"

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * OTLP signals an `Exporter.otlp` sends.
 *
 * @category models
 * @since 0.1.0
 */
export type OtlpSignal = "traces" | "metrics" | "logs"

/**
 * Options of `Exporter.otlp`. Durations accept `Duration.Input` (`"5 seconds"`, `5000` for milliseconds).
 *
 * @category models
 * @since 0.1.0
 */
export interface OtlpOptions {
  /**
   * The receiver. OTLP/HTTP: a base URL, to which `/v1/traces`, `/v1/metrics` and `/v1/logs` are
   * appended. OTLP/gRPC: the target, used as it is — `http://host:port` (cleartext HTTP/2),
   * `https://host:port` (TLS), or `host:port` (TLS unless `insecure`); a path is ignored.
   * @default "http://localhost:4318" (`"http://localhost:4317"` with `protocol: "grpc"`)
   */
  readonly endpoint?: string | undefined
  /** Full URL (gRPC: the target) for traces, used as it is (wins over `endpoint`). */
  readonly tracesEndpoint?: string | undefined
  /** Full URL (gRPC: the target) for metrics, used as it is (wins over `endpoint`). */
  readonly metricsEndpoint?: string | undefined
  /** Full URL (gRPC: the target) for logs, used as it is (wins over `endpoint`). */
  readonly logsEndpoint?: string | undefined
  /**
   * Transport and encoding: `"http/protobuf"` and `"http/json"` POST to OTLP/HTTP; `"grpc"` makes unary
   * `Export` calls of the OTLP/gRPC services over one long-lived HTTP/2 connection per endpoint (the
   * OpenTelemetry Collector's port 4317).
   * @default "http/protobuf"
   */
  readonly protocol?: "http/protobuf" | "http/json" | "grpc" | undefined
  /**
   * Extra request headers (API keys…); with `"grpc"`, custom metadata: names are lowercased and must be
   * gRPC header names (`0-9 a-z _ - .`, not `grpc-…`), values printable ASCII (base64 for `-bin` names).
   */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * gRPC only: use cleartext HTTP/2 for an `endpoint` given as `host:port` (no scheme). An `http://` or
   * `https://` scheme always wins, as the OTLP specification requires.
   * @default false
   */
  readonly insecure?: boolean | undefined
  /**
   * gRPC only: PEM text of the certificate(s) trusted to sign the receiver's TLS certificate, instead of
   * the default roots (what `OTEL_EXPORTER_OTLP_CERTIFICATE` names a file of).
   */
  readonly certificate?: string | undefined
  /**
   * Request body compression (gRPC: the message is gzipped, with `grpc-encoding: gzip`).
   * @default "none"
   */
  readonly compression?: "gzip" | "none" | undefined
  /**
   * Timeout of one export request (positive); with `"grpc"` it is also sent as `grpc-timeout`.
   * @default "10 seconds"
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * Signals to send.
   * @default ["traces", "metrics", "logs"]
   */
  readonly signals?: ReadonlyArray<OtlpSignal> | undefined
  /**
   * Which implementation sends traces: `"effect"` is stagetrace's own pipeline (bounded queue, retries,
   * drop accounting, fast encoders); `"otel-sdk"` hands spans to the OpenTelemetry JS SDK
   * (`@effect/opentelemetry` over a `BatchSpanProcessor` and `@opentelemetry/exporter-trace-otlp-http`),
   * for users who already run the SDK (OTLP/HTTP only: not with `protocol: "grpc"`). Metrics and logs
   * always use stagetrace's pipeline.
   * @default "effect"
   */
  readonly implementation?: "effect" | "otel-sdk" | undefined
  /**
   * Spans (and log records) waiting to be sent; when full, new ones are dropped and counted.
   * @default 2048
   */
  readonly maxQueueSize?: number | undefined
  /**
   * Most items in one export request.
   * @default 512
   */
  readonly maxExportBatchSize?: number | undefined
  /**
   * Most export requests in flight at once, for spans and for log records (metrics are always sent one
   * request at a time, in order). When a full batch is ready while earlier ones still await their answers,
   * it is sent at once instead of waiting a round trip: one request at a time caps a channel at
   * `maxExportBatchSize` items per round trip, and spans beyond that fill the queue and are dropped.
   * Memory is bounded by `maxQueueSize` plus this many batches. Batches may then arrive out of order.
   * `1` sends one batch at a time, as OpenTelemetry's `BatchSpanProcessor` does. No `OTEL_*` variable
   * sets it.
   * @default 4
   * @since 0.2.0
   */
  readonly maxConcurrentExports?: number | undefined
  /**
   * Longest wait before a partial batch is sent.
   * @default "5 seconds"
   */
  readonly scheduleDelay?: Duration.Input | undefined
  /**
   * Longest time one batch may spend being sent, retries included (positive); then it is dropped and
   * counted.
   * @default "30 seconds"
   */
  readonly exportTimeout?: Duration.Input | undefined
  /**
   * How often metrics are sent.
   * @default "60 seconds"
   */
  readonly metricExportInterval?: Duration.Input | undefined
}

/**
 * An OTLP exporter, over HTTP or gRPC (see `Exporter.otlp`).
 *
 * @category models
 * @since 0.1.0
 */
export interface OtlpExporter {
  /** Discriminates the exporter kinds. */
  readonly _tag: "Otlp"
  /** The options as given (validated when the layer is built). */
  readonly options: OtlpOptions
}

/**
 * Hands spans to Deno's built-in OpenTelemetry (see `Exporter.denoNative`).
 *
 * @category models
 * @since 0.1.0
 */
export interface DenoNativeExporter {
  /** Discriminates the exporter kinds. */
  readonly _tag: "DenoNative"
}

/**
 * Options of `Exporter.console`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsoleOptions {
  /**
   * `"pretty"`: a stage waterfall per request; `"json"`: one JSONL summary line per request.
   * @default "pretty"
   */
  readonly format?: "pretty" | "json" | undefined
  /**
   * Width of the waterfall bars, in characters.
   * @default 40
   */
  readonly width?: number | undefined
  /**
   * Which kept requests to write, for example `(summary) => !summary.success` to print only failures. A
   * filter that throws skips the request (counted as the drop `summary_filter_error`).
   * @default every kept request
   */
  readonly filter?: ((summary: RequestSummary) => boolean) | undefined
}

/**
 * Prints kept requests (see `Exporter.console`).
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsoleExporter {
  /** Discriminates the exporter kinds. */
  readonly _tag: "Console"
  /** The options as given (validated when the layer is built). */
  readonly options: ConsoleOptions
}

/**
 * Options of `Exporter.jsonl`.
 *
 * @category models
 * @since 0.1.0
 */
export interface JsonlOptions {
  /** Directory of the daily files (`stagetrace-YYYY-MM-DD.jsonl`, UTC); created when missing. */
  readonly dir: string
  /**
   * Days of files kept; older daily files are deleted at start and at each new day. `0` keeps everything.
   * @default 30
   */
  readonly retentionDays?: number | undefined
  /**
   * Lines waiting to be written; when full, new ones are dropped and counted.
   * @default 2048
   */
  readonly maxQueueSize?: number | undefined
  /**
   * Which kept requests to write, for example `(summary) => !summary.success` to print only failures. A
   * filter that throws skips the request (counted as the drop `summary_filter_error`).
   * @default every kept request
   */
  readonly filter?: ((summary: RequestSummary) => boolean) | undefined
}

/**
 * Writes kept request summaries as JSONL (see `Exporter.jsonl`).
 *
 * @category models
 * @since 0.1.0
 */
export interface JsonlExporter {
  /** Discriminates the exporter kinds. */
  readonly _tag: "Jsonl"
  /** The options as given (validated when the layer is built). */
  readonly options: JsonlOptions
}

/**
 * A finished span as exporters see it, read back from `Exporter.memory()`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExportedSpan {
  /** The trace id, 32 lowercase hex digits. */
  readonly traceId: string
  /** The span id, 16 lowercase hex digits. */
  readonly spanId: string
  /** The parent span's id; `undefined` for a root span. */
  readonly parentSpanId: string | undefined
  /** The W3C tracestate of the span (for example the sampling concern's `ot=th:…`). */
  readonly traceState: string | undefined
  /** The span name. */
  readonly name: string
  /** The span kind (`server`, `client`, `internal`…). */
  readonly kind: Tracer.SpanKind
  /** Start time, nanoseconds since the epoch. */
  readonly startTimeNanos: bigint
  /** End time, nanoseconds since the epoch. */
  readonly endTimeNanos: bigint
  /** End minus start, in milliseconds. */
  readonly durationMs: number
  /**
   * The attributes, redacted as every exporter sends them (`effect.fiber.interrupted: true` on an
   * interrupted span, as the OTLP encoders add it).
   */
  readonly attributes: Readonly<Record<string, unknown>>
  /**
   * The events, in the order they were added, their attributes redacted; a failed span ends with the
   * `exception` event (`exception.type`, `exception.message`) that the OTLP encoders send.
   */
  readonly events: ReadonlyArray<{
    readonly name: string
    readonly timeNanos: bigint
    readonly attributes: Readonly<Record<string, unknown>>
  }>
  /** OTLP status: `ok` (success), `error` (failure), `unset` (interrupted). */
  readonly status: "ok" | "error" | "unset"
  /** The error message of a failed span (redacted). */
  readonly statusMessage: string | undefined
  /** Whether the span ended by interruption (for example still open when the layer closed). */
  readonly interrupted: boolean
}

/**
 * Options of `Exporter.memory`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MemoryOptions {
  /**
   * Spans and summaries kept each; the oldest are discarded past it.
   * @default 10000
   */
  readonly capacity?: number | undefined
}

/**
 * Keeps what would be exported in memory, for tests: spans, kept request summaries, and metric snapshots
 * of the layer it is installed in. Values are redacted like every other exporter's.
 *
 * @example Reading back exported spans
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const memory = Exporter.memory({ capacity: 100 })
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("auth_check"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [memory] }))),
 * )
 * assert.deepEqual(memory.spans().map((span) => span.name), ["auth_check", "chat"])
 * assert.equal(memory.summaries()[0]?.name, "chat")
 * memory.clear()
 * assert.equal(memory.spans().length, 0)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class MemoryExporter {
  /** Discriminates the exporter kinds. */
  readonly _tag = "Memory" as const
  /** Spans and summaries kept each (the oldest are discarded past it). */
  readonly capacity: number
  private spanBuffer: Array<FinishedSpan> = []
  private summaryBuffer: Array<RequestSummary> = []
  /** @internal */
  redactor: () => RedactorLike | undefined = () => undefined
  /** @internal */
  metricContext: Context.Context<never> | undefined = undefined

  /** Prefer `Exporter.memory(options)`. */
  constructor(options: MemoryOptions = {}) {
    this.capacity = options.capacity ?? 10_000
  }

  /** @internal */
  recordSpan(span: FinishedSpan): void {
    if (this.spanBuffer.length >= this.capacity) this.spanBuffer.shift()
    this.spanBuffer.push(span)
  }

  /** @internal */
  recordSummary(summary: RequestSummary): void {
    if (this.summaryBuffer.length >= this.capacity) this.summaryBuffer.shift()
    this.summaryBuffer.push(summary)
  }

  /** The exported spans, in the order they ended. */
  spans(): ReadonlyArray<ExportedSpan> {
    const redactor = this.redactor()
    return this.spanBuffer.map((span) => toExportedSpan(span, redactor))
  }

  /** The summaries of kept requests, in the order they ended. */
  summaries(): ReadonlyArray<RequestSummary> {
    return this.summaryBuffer.slice()
  }

  /** A snapshot of the metrics of the layer this exporter is installed in (empty before). */
  metrics(): ReadonlyArray<Metric.Metric.Snapshot> {
    return this.metricContext === undefined ? [] : Metric.snapshotUnsafe(this.metricContext)
  }

  /** Forgets every span and summary kept so far. */
  clear(): void {
    this.spanBuffer = []
    this.summaryBuffer = []
  }
}

/**
 * Any exporter accepted by `Telemetry.layer({ exporters })`.
 *
 * @category models
 * @since 0.1.0
 */
export type Exporter = OtlpExporter | DenoNativeExporter | ConsoleExporter | JsonlExporter | MemoryExporter

/**
 * The export options of `Telemetry.layer` (part of `TelemetryOptions`).
 *
 * @category configuration
 * @since 0.1.0
 */
export interface ExportOptions {
  /** Where spans, kept request summaries, metrics and logs go; any number at once. */
  readonly exporters?: ReadonlyArray<Exporter> | undefined
  /**
   * Exporters configured by the environment (`Telemetry.layerFromEnv` fills it from `OTEL_*` variables);
   * installed in addition to `exporters`.
   */
  readonly environmentExporters?: ReadonlyArray<Exporter> | undefined
  /**
   * How long closing the layer may take to end open spans and flush every exporter; what is still queued
   * afterwards is dropped and counted (`reason: "shutdown"`).
   * @default "5 seconds"
   */
  readonly shutdownTimeout?: Duration.Input | undefined
}

// ---------------------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------------------

/**
 * OTLP export of traces, metrics and logs, over HTTP (`protocol: "http/protobuf"`, the default, or
 * `"http/json"`) or gRPC (`protocol: "grpc"`). The default implementation is stagetrace's own pipeline,
 * the same for every protocol: a bounded queue per signal (default 2048; when full, new items are dropped
 * and counted), batches by size and interval, retries with exponential backoff and jitter, a per-request
 * timeout, and a flush within the shutdown deadline when the layer closes. Its own calls are never traced.
 *
 * - OTLP/HTTP retries 429/502/503/504 and network errors, honouring `Retry-After`.
 * - OTLP/gRPC (`protocol: "grpc"`, default endpoint `http://localhost:4317`, used as it is) makes unary
 *   `Export` calls over one long-lived HTTP/2 connection per endpoint (cleartext for `http://`, TLS for
 *   `https://`), re-opened after a failure. It retries `UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`,
 *   `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only with a `google.rpc.RetryInfo`,
 *   waiting at least its `retry_delay`; any other status drops the batch with a reason naming it
 *   (`rejected_unauthenticated`…), shown by `Health.check` too.
 *
 * Partial successes (`rejected_spans`…) are counted as dropped (`rejected`) for every protocol.
 *
 * @example Exporting to a local collector
 * ```ts
 * import assert from "node:assert/strict"
 * import { Exporter, Telemetry } from "@stagetrace/stagetrace"
 *
 * const otlp = Exporter.otlp({ endpoint: "http://127.0.0.1:4318", protocol: "http/json" })
 * const layer = Telemetry.layer({ serviceName: "chat", exporters: [otlp] })
 * assert.equal(otlp.options.protocol, "http/json")
 * assert.ok(layer)
 * ```
 *
 * @example OTLP/gRPC to a collector's port 4317
 * ```ts
 * import assert from "node:assert/strict"
 * import { Exporter, Telemetry } from "@stagetrace/stagetrace"
 *
 * const otlp = Exporter.otlp({
 *   protocol: "grpc",
 *   endpoint: "http://127.0.0.1:4317",
 *   headers: { "x-api-key": "secret" },
 *   compression: "gzip",
 * })
 * const layer = Telemetry.layer({ serviceName: "chat", exporters: [otlp] })
 * assert.equal(otlp.options.protocol, "grpc")
 * assert.ok(layer)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const otlp = (options: OtlpOptions = {}): OtlpExporter => ({ _tag: "Otlp", options })

/**
 * Hands Effect spans to Deno's built-in OpenTelemetry when Deno runs with `OTEL_DENO=true`: stages and
 * requests become spans of Deno's tracer, nested with its automatic `fetch` and `Deno.serve` spans, and
 * Deno exports them (configured by the usual `OTEL_*` variables). Without `OTEL_DENO=true` it does
 * nothing.
 *
 * @example Traces to Deno's OpenTelemetry
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * // With OTEL_DENO=true, Deno exports the stages with its own fetch and Deno.serve spans; else a no-op.
 * const layer = Telemetry.layer({ serviceName: "chat", exporters: [Exporter.denoNative()] })
 * await Effect.runPromise(Effect.void.pipe(Stage.track("auth_check"), Request.track("chat"), Effect.provide(layer)))
 * assert.equal(Exporter.denoNative()._tag, "DenoNative")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const denoNative = (): DenoNativeExporter => ({ _tag: "DenoNative" })

/**
 * Prints every kept request: a stage waterfall (`"pretty"`, the default) or one JSON summary line
 * (`"json"`), through Effect's `Console`, off the request's path.
 *
 * @example Printing failed requests only
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const failures = Exporter.console({ format: "pretty", filter: (summary) => !summary.success })
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("auth_check"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [failures] }))),
 * ) // prints nothing: the request succeeded
 * assert.equal(failures.options.format, "pretty")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const console = (options: ConsoleOptions = {}): ConsoleExporter => ({ _tag: "Console", options })

/**
 * Appends one line per kept request summary (schema `stagetrace.summary.v1`) to daily files
 * `stagetrace-YYYY-MM-DD.jsonl` in `dir`, deleting files older than `retentionDays`. Each line is written
 * with one append; a line cut by a crash is isolated on its own line at the next start, so readers never
 * see two records glued together.
 *
 * @example Daily performance logs
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const dir = await Deno.makeTempDir()
 * await Effect.runPromise(
 *   Effect.void.pipe(
 *     Stage.track("auth_check"),
 *     Request.track("chat"),
 *     Effect.provide(Telemetry.layer({ exporters: [Exporter.jsonl({ dir, retentionDays: 7 })] })),
 *   ),
 * )
 * const [file] = [...Deno.readDirSync(dir)]
 * assert.match(file!.name, /^stagetrace-\d{4}-\d{2}-\d{2}\.jsonl$/)
 * await Deno.remove(dir, { recursive: true })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const jsonl = (options: JsonlOptions): JsonlExporter => ({ _tag: "Jsonl", options })

/**
 * An in-memory exporter for tests: install it, run the program, read back spans, kept summaries and
 * metric snapshots.
 *
 * @example Reading back spans in a test
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const memory = Exporter.memory()
 * await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("auth_check"), Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [memory] }))),
 * )
 * const [stage, request] = memory.spans()
 * assert.equal(stage?.name, "auth_check")
 * assert.equal(stage?.parentSpanId, request?.spanId)
 * assert.equal(memory.summaries()[0]?.name, "chat")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const memory = (options: MemoryOptions = {}): MemoryExporter => new MemoryExporter(options)

// ---------------------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------------------

/** A finished span as the OTLP encoders send it (same attributes, events, exception event and status). */
const toExportedSpan = (span: FinishedSpan, redactor: RedactorLike | undefined): ExportedSpan => {
  const status = span.status as Extract<Tracer.SpanStatus, { _tag: "Ended" }>
  const outcome = outcomeOfExit(status.exit)
  const redact = (key: string, value: unknown) =>
    redactor === undefined ? value : redactor.redactValue(key, value)
  const attributes: Record<string, unknown> = {}
  const add = (key: string, value: unknown) => {
    if (value !== undefined && value !== null) attributes[key] = redact(key, value)
  }
  // Stage attributes stagetrace's own spans deferred come first, as the encoders write them.
  const deferred = span.deferredStage
  if (deferred !== undefined) {
    if (span.deferredRequestId !== undefined) add("request.id", span.deferredRequestId)
    add("stage.id", deferred.stageId)
    add("stage.name", deferred.name)
    for (const key of deferred.metadataKeys) add(key, deferred.metadata[key])
  }
  if (span._attributes !== undefined) {
    for (const [key, value] of span._attributes) add(key, value)
  }
  if (outcome.interrupted) attributes[interruptedAttribute] = true
  const exception = exceptionEvent(outcome, status.endTime)
  const events = exception === undefined ? span._events ?? [] : [...(span._events ?? []), exception]
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parent._tag === "Some" ? span.parent.value.spanId : undefined,
    traceState: span.traceState,
    name: span.name,
    kind: span.kind,
    startTimeNanos: status.startTime,
    endTimeNanos: status.endTime,
    durationMs: Number(status.endTime - status.startTime) / 1_000_000,
    attributes,
    events: events.map(([name, timeNanos, attrs]) => ({
      name: redactor === undefined ? name : redactor.redactString(name),
      timeNanos,
      attributes: Object.fromEntries(
        Object.entries(attrs ?? {}).filter(([, value]) => value !== undefined && value !== null).map((
          [key, value],
        ) => [key, redact(key, value)]),
      ),
    })),
    status: outcome.code === 1 ? "ok" : outcome.code === 2 ? "error" : "unset",
    statusMessage: outcome.message === undefined || redactor === undefined
      ? outcome.message
      : redactor.redactString(outcome.message),
    interrupted: outcome.interrupted,
  }
}
