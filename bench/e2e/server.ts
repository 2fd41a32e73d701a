/**
 * One variant of the end-to-end benchmark app, served on 127.0.0.1 (a port picked by the OS, printed as
 * `{"port":…}` on the first line of stdout). Started by `bench/e2e/main.ts`, one process per variant:
 *
 *     deno run -A bench/e2e/server.ts <variant> [--sink http://127.0.0.1:4318] [--soak]
 *
 * Every variant serves the same app: a request runs 10 steps, each an `Effect.sync` of ~50 integer
 * operations (the trivial app), or each awaiting a 1–5 ms timer (the `-real` variants, the realistic app).
 * Only what wraps the steps differs (see `variants` in `main.ts`).
 *
 * With `--soak`, `GET /__mem` runs a full garbage collection (needs `--v8-flags=--expose-gc`) and answers
 * the heap and RSS (checked before the app, so it is not instrumented).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Tracer from "effect/Tracer"
import { Exporter, Http, Request, Stage, Telemetry } from "../../mod.ts"

const variant = Deno.args[0] ?? "bare"
const flag = (name: string): string | undefined => {
  const index = Deno.args.indexOf(name)
  return index < 0 ? undefined : Deno.args[index + 1]
}
const sink = flag("--sink") ?? "http://127.0.0.1:4318"
const soak = Deno.args.includes("--soak")

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

const realistic = variant.endsWith("-real")
let requestCounter = 0

/** A step as the app writes it, built on every request (as code in a handler is). */
const step = (i: number, n: number): Effect.Effect<number> =>
  realistic
    // A deterministic 1–5 ms wait, the same sequence in every variant.
    ? Effect.as(Effect.sleep(1 + ((n * 7 + i * 3) % 5)), i)
    : Effect.sync(() => spin(i + n))

type Wrap = (effect: Effect.Effect<number>, i: number) => Effect.Effect<number>

/** The request: 10 steps, each wrapped by `wrap`, then a response. */
const app = (wrap: Wrap): Effect.Effect<Response> =>
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
// Variants
// ---------------------------------------------------------------------------------------------------------

/**
 * Every handler declares its request parameter, as real handlers do: `Deno.serve` skips building the
 * `Request` object for a handler declared without parameters, which would flatter the bare app.
 */
type Handler = (request: globalThis.Request) => Response | Promise<Response>

const otlpLayer = (sampleRate: number) =>
  Telemetry.layer({
    serviceName: "e2e",
    sampleRate,
    exporters: [Exporter.otlp({ endpoint: sink })],
  })

const makeOtelSdkLayer = async (): Promise<Layer.Layer<never>> => {
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

const makeHandler = async (): Promise<{ handler: Handler; dispose: () => Promise<void> }> => {
  const plain = ManagedRuntime.make(Layer.empty)
  switch (variant) {
    case "bare":
    case "bare-real":
    case "deno-native": // Deno's own OpenTelemetry (OTEL_DENO=true, set by the driver) adds the server span.
      return { handler: (_request) => plain.runPromise(app(bareWrap)), dispose: () => plain.dispose() }
    case "withspan":
      return {
        handler: (_request) => plain.runPromise(Effect.withSpan(app(spanWrap), "GET /")),
        dispose: () => plain.dispose(),
      }
    case "otel-sdk": {
      const runtime = ManagedRuntime.make(await makeOtelSdkLayer())
      return {
        handler: (_request) =>
          runtime.runPromise(Effect.withSpan(app(spanWrap), "GET /", { kind: "server" })),
        dispose: () => runtime.dispose(),
      }
    }
    case "core": {
      const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "e2e" }))
      return {
        handler: (_request) => runtime.runPromise(Request.track(app(stageWrap), "GET /")),
        dispose: () => runtime.dispose(),
      }
    }
    case "mw":
    case "mw-abort": {
      const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "e2e" }))
      const handler = Http.middleware(() => app(stageWrap), {
        runtime,
        route: "/",
        ...(variant === "mw-abort" ? { interruptOnAbort: true } : {}),
      })
      return { handler, dispose: () => runtime.dispose() }
    }
    case "mw-otlp10":
    case "mw-otlp10-real":
    case "mw-otlp100": {
      const runtime = ManagedRuntime.make(otlpLayer(variant === "mw-otlp100" ? 1 : 0.1))
      const handler = Http.middleware(() => app(stageWrap), { runtime, route: "/" })
      return { handler, dispose: () => runtime.dispose() }
    }
    default:
      throw new Error(`Unknown variant: ${variant}`)
  }
}

const { handler, dispose } = await makeHandler()

const gc = (globalThis as { gc?: () => void }).gc
const served = soak
  ? (request: globalThis.Request): Response | Promise<Response> => {
    if (request.url.endsWith("/__mem")) {
      gc?.()
      const memory = Deno.memoryUsage()
      return Response.json({ heapUsed: memory.heapUsed, rss: memory.rss, gc: gc !== undefined })
    }
    return handler(request)
  }
  : handler

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ port })),
}, served)

const stop = async () => {
  await server.shutdown()
  await dispose()
  Deno.exit(0)
}
Deno.addSignalListener("SIGTERM", () => void stop())
Deno.addSignalListener("SIGINT", () => void stop())
