/**
 * Tracers backed by OpenTelemetry JS: the OpenTelemetry SDK path of `Exporter.otlp({ implementation:
 * "otel-sdk" })` (`@effect/opentelemetry`'s `OtelTracer` over a `BasicTracerProvider` with a
 * `BatchSpanProcessor` and the SDK's OTLP/HTTP exporter) and `Exporter.denoNative()` (`OtelTracer` over
 * Deno's built-in tracer provider). Both are loaded with dynamic imports, so programs that use neither
 * never load the OpenTelemetry packages.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import type * as OtelApi from "@opentelemetry/api"

/** Version reported as the instrumentation scope version. */
export const scopeVersion = "0.1.0"

/** A tracer over OpenTelemetry, with what shutdown needs. */
export interface OtelBase {
  readonly tracer: Tracer.Tracer
  /** Flushes and stops the provider (SDK path); bounded by the caller's timeout. */
  readonly shutdown: () => Promise<void>
}

const makeOtelTracer = (otelTracer: OtelApi.Tracer): Effect.Effect<Tracer.Tracer> =>
  Effect.flatMap(
    Effect.promise(() => import("@effect/opentelemetry/OtelTracer")),
    (OtelTracer) => Effect.provideService(OtelTracer.make, OtelTracer.OtelTracer, otelTracer),
  )

/** Options of the OpenTelemetry SDK path, already validated. */
export interface SdkConfig {
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
  readonly timeoutMs: number
  readonly maxQueueSize: number
  readonly maxExportBatchSize: number
  readonly scheduleDelayMs: number
  readonly exportTimeoutMs: number
  readonly resource: Readonly<Record<string, string | number | boolean>>
}

/** The OpenTelemetry SDK path: a provider with a BatchSpanProcessor and the SDK's OTLP/HTTP exporter. */
export const makeSdkBase = (config: SdkConfig): Effect.Effect<OtelBase> =>
  Effect.gen(function* () {
    const [sdk, resources, exporterModule] = yield* Effect.promise(() =>
      Promise.all([
        import("@opentelemetry/sdk-trace-base"),
        import("@opentelemetry/resources"),
        config.protocol === "http/json"
          ? import("@opentelemetry/exporter-trace-otlp-http")
          : import("@opentelemetry/exporter-trace-otlp-proto"),
      ])
    )
    const exporter = new exporterModule.OTLPTraceExporter({
      url: config.url,
      headers: { ...config.headers },
      timeoutMillis: config.timeoutMs,
      compression: config.compression as never,
    })
    // Every buffer option is given, so the processor reads no OTEL_BSP_* variable itself.
    const processor = new sdk.BatchSpanProcessor(exporter, {
      maxQueueSize: config.maxQueueSize,
      maxExportBatchSize: config.maxExportBatchSize,
      scheduledDelayMillis: config.scheduleDelayMs,
      exportTimeoutMillis: config.exportTimeoutMs,
    })
    const provider = new sdk.BasicTracerProvider({
      resource: resources.resourceFromAttributes(config.resource),
      spanProcessors: [processor],
    })
    const tracer = yield* makeOtelTracer(provider.getTracer("stagetrace", scopeVersion))
    return {
      tracer,
      shutdown: async () => {
        await provider.forceFlush()
        await provider.shutdown()
      },
    }
  })

interface DenoTelemetry {
  readonly tracerProvider: OtelApi.TracerProvider
}

/** Whether Deno's built-in OpenTelemetry is on (`OTEL_DENO=true`, and not `OTEL_SDK_DISABLED`). */
export const denoOtelEnabled = (env: Readonly<Record<string, string | undefined>>): boolean =>
  (globalThis as { Deno?: { telemetry?: DenoTelemetry } }).Deno?.telemetry !== undefined &&
  env["OTEL_DENO"]?.trim() === "true" && env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() !== "true"

/**
 * `Exporter.denoNative()`: Effect spans become spans of Deno's tracer; `OtelTracer` makes each Effect
 * span the active OpenTelemetry context while its effect runs, so Deno's `fetch` and `Deno.serve` spans
 * nest under it, and a request handled inside `Deno.serve` continues Deno's server span.
 */
export const makeDenoBase = (): Effect.Effect<OtelBase> =>
  Effect.gen(function* () {
    const telemetry = (globalThis as unknown as { Deno: { telemetry: DenoTelemetry } }).Deno.telemetry
    const tracer = yield* makeOtelTracer(telemetry.tracerProvider.getTracer("stagetrace", scopeVersion))
    return { tracer, shutdown: () => Promise.resolve() }
  })
