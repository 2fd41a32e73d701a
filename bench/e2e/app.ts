/**
 * The app of the end-to-end benchmark under each set-up (see `variants` in `main.ts`): a request runs 10
 * steps, each an `Effect.sync` of ~50 integer operations (the trivial app), or each awaiting a 1–5 ms
 * timer (the `-real` variants, the realistic app). Only what wraps the steps differs. Besides the set-ups
 * of `main.ts`, `mw-otlp0` exports at `sampleRate: 0` (every request dropped by sampling; for `inprocess.ts`).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as Tracer from "effect/Tracer"
import { Exporter, Http, Prometheus, Request, Stage, Telemetry } from "../../mod.ts"

// ---------------------------------------------------------------------------------------------------------
// The app: 10 steps
// ---------------------------------------------------------------------------------------------------------

const stepIds = Array.from({ length: 10 }, (_, i) => `step_${i}`)

/** ~50 integer operations, the body of a trivial step. */
const spin = (seed: number): number => {
  let x = seed
  for (let i = 0; i < 50; i++) x = (x * 31 + i) | 0
  return x
}

let requestCounter = 0

/** A step as the app writes it, built on every request (as code in a handler is). */
const trivialStep = (i: number, n: number): Effect.Effect<number> => Effect.sync(() => spin(i + n))

/** A deterministic 1–5 ms wait, the same sequence in every variant. */
const realisticStep = (i: number, n: number): Effect.Effect<number> =>
  Effect.as(Effect.sleep(1 + ((n * 7 + i * 3) % 5)), i)

type Step = (i: number, n: number) => Effect.Effect<number>
type Wrap = (effect: Effect.Effect<number>, i: number) => Effect.Effect<number>

/** The request: 10 steps, each wrapped by `wrap`, then a response. */
const app = (step: Step, wrap: Wrap): Effect.Effect<Response> =>
  Effect.gen(function* () {
    const n = requestCounter++
    let acc = 0
    for (let i = 0; i < 10; i++) acc += yield* wrap(step(i, n), i)
    return new Response(acc === 0.5 ? "never" : "ok")
  })

const bareWrap: Wrap = (effect) => effect
const spanWrap: Wrap = (effect, i) => Effect.withSpan(effect, stepIds[i]!)
const stageWrap: Wrap = (effect, i) => Stage.track(effect, stepIds[i]!)

// ---------------------------------------------------------------------------------------------------------
// Set-ups
// ---------------------------------------------------------------------------------------------------------

/**
 * Every handler declares its request parameter, as real handlers do: `Deno.serve` skips building the
 * `Request` object for a handler declared without parameters, which would flatter the bare app.
 */
export type Handler = (
  request: globalThis.Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>

/**
 * Each exporting set-up gets a `MetricRegistry` of its own: `inprocess.ts` runs several in one process, and
 * in Effect's default (process-wide) registry the last set-up built would shadow the others' self-metrics,
 * so one set-up's dropped spans would be read from another's pipeline.
 */
const otlpLayer = (sink: string, sampleRate: number) =>
  Telemetry.layer({
    serviceName: "e2e",
    sampleRate,
    exporters: [Exporter.otlp({ endpoint: sink })],
  }).pipe(Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())))

const makeOtelSdkLayer = async (sink: string): Promise<Layer.Layer<never>> => {
  const [sdk, resources, otlp, OtelTracer] = await Promise.all([
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/exporter-trace-otlp-proto"),
    import("@effect/opentelemetry/OtelTracer"),
  ])
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ "service.name": "e2e" }),
    spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url: `${sink}/v1/traces` }))],
  })
  const tracer = provider.getTracer("e2e")
  return Layer.effect(Tracer.Tracer, Effect.provideService(OtelTracer.make, OtelTracer.OtelTracer, tracer))
}

/** What stagetrace's export pipeline counted so far, by its own statistics (the `stagetrace_export*` self-metrics). */
export interface ExportCounts {
  /** Spans the exporter delivered (the receiver accepted them). */
  readonly exported: number
  /** Spans dropped, by reason (`queue_full`, `export_failed`, `shutdown`…). */
  readonly dropped: Readonly<Record<string, number>>
  /** Items waiting in the export queues (every signal). */
  readonly queued: number
}

/** Reads the trace counts out of a Prometheus exposition of stagetrace's self-metrics. */
export const exportCountsOf = (text: string): ExportCounts => {
  let exported = 0
  let queued = 0
  const dropped: Record<string, number> = {}
  for (const line of text.split("\n")) {
    if (line.startsWith("stagetrace_exported_total{") && line.includes('signal="traces"')) {
      exported = Number(line.slice(line.lastIndexOf(" ") + 1))
    } else if (line.startsWith("stagetrace_export_dropped_total{") && line.includes('signal="traces"')) {
      const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? "unknown"
      dropped[reason] = Number(line.slice(line.lastIndexOf(" ") + 1))
    } else if (line.startsWith("stagetrace_export_queued ")) {
      queued = Number(line.slice(line.lastIndexOf(" ") + 1))
    }
  }
  return { exported, dropped, queued }
}

/** The handler of set-up `variant`, exporting (when it does) to the OTLP receiver at `sink`. */
export const makeHandler = async (
  variant: string,
  sink: string,
): Promise<
  { handler: Handler; dispose: () => Promise<void>; exportCounts?: () => Promise<ExportCounts> }
> => {
  const step = variant.endsWith("-real") ? realisticStep : trivialStep
  const plain = ManagedRuntime.make(Layer.empty)
  // Every set-up also runs the realistic app, as `<set-up>-real`.
  const setUp = variant.replace(/-real$/, "")
  switch (setUp) {
    case "bare":
    case "deno-native": // Deno's own OpenTelemetry (OTEL_DENO=true, set by the driver) adds the server span.
      return { handler: (_request) => plain.runPromise(app(step, bareWrap)), dispose: () => plain.dispose() }
    case "bare-reads":
      // What Http.middleware reads from each request, without stagetrace: Deno's share of its cost.
      return {
        handler: (request, info?: Deno.ServeHandlerInfo) => {
          const headers = request.headers
          const read = [
            request.method,
            request.url,
            headers.get("user-agent"),
            headers.get("x-request-id"),
            headers.get("traceparent"),
            headers.get("baggage"),
            (info?.remoteAddr as Deno.NetAddr | undefined)?.hostname,
          ]
          return plain.runPromise(app(step, read.length === 0 ? spanWrap : bareWrap))
        },
        dispose: () => plain.dispose(),
      }
    case "withspan":
      return {
        handler: (_request) => plain.runPromise(Effect.withSpan(app(step, spanWrap), "GET /")),
        dispose: () => plain.dispose(),
      }
    case "otel-sdk": {
      const runtime = ManagedRuntime.make(await makeOtelSdkLayer(sink))
      return {
        handler: (_request) =>
          runtime.runPromise(Effect.withSpan(app(step, spanWrap), "GET /", { kind: "server" })),
        dispose: () => runtime.dispose(),
      }
    }
    case "core": {
      const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "e2e" }))
      return {
        handler: (_request) => runtime.runPromise(Request.track(app(step, stageWrap), "GET /")),
        dispose: () => runtime.dispose(),
      }
    }
    case "mw":
    case "mw-abort": {
      const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "e2e" }))
      const handler = Http.middleware(() => app(step, stageWrap), {
        runtime,
        route: "/",
        ...(setUp === "mw-abort" ? { interruptOnAbort: true } : {}),
      })
      return { handler, dispose: () => runtime.dispose() }
    }
    case "mw-otlp10":
    case "mw-otlp100":
    case "mw-otlp0": {
      const runtime = ManagedRuntime.make(
        otlpLayer(sink, setUp === "mw-otlp100" ? 1 : setUp === "mw-otlp0" ? 0 : 0.1),
      )
      const handler = Http.middleware(() => app(step, stageWrap), { runtime, route: "/" })
      return {
        handler,
        dispose: () => runtime.dispose(),
        exportCounts: async () => exportCountsOf(await runtime.runPromise(Prometheus.format("text"))),
      }
    }
    default:
      throw new Error(`Unknown variant: ${variant}`)
  }
}
