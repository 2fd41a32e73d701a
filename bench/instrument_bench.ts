/**
 * The cost of stagetrace's server requests and adopted spans, in one `deno bench` run: the same
 * `HttpRouter` app, turned into a web handler with `HttpRouter.toWebHandler` and called in process (no
 * socket), under
 *
 * - Effect's native tracer alone (the baseline: what an Effect user has without stagetrace; Effect opens no
 *   server span at all then);
 * - `Telemetry.layer()`: each request is a stagetrace request with its own server span (Effect's stays
 *   off), summary, statistics and HTTP metrics by route;
 * - the same with `Layer.provide` of the telemetry layer (the router middleware provides the telemetry
 *   services to every request);
 * - `Telemetry.layer({ instrument: false })`: the telemetry layer without adoption (with no exporter and no
 *   sampler it installs no tracer: this is the native tracer again);
 * - a pass-through tracer (`Tracer.make` over the native one): what Effect itself does for a request as soon
 *   as any tracer other than the native one is installed (an OpenTelemetry tracer, any exporter): it opens
 *   the server span and records the URL, route and response attributes;
 *
 * and, in a second group, a route that calls `LanguageModel.generateText` on a simulated provider, with and
 * without adoption (the model call becomes a stage with token metrics).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Tracer from "effect/Tracer"
import { LanguageModel } from "effect/ai"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Telemetry } from "../mod.ts"
import { simulatedModel } from "../test/instrument/_models.ts"

const Routes = Layer.mergeAll(
  HttpRouter.add("GET", "/chat/:id", Effect.succeed(HttpServerResponse.text("ok"))),
  HttpRouter.add(
    "GET",
    "/llm/:id",
    Effect.map(LanguageModel.generateText({ prompt: "hi" }), (r) => HttpServerResponse.text(r.text)),
  ),
).pipe(Layer.provideMerge(simulatedModel("gpt-4o")))

const registry = () => Layer.succeed(Metric.MetricRegistry, new Map())
const telemetry = (options: Telemetry.TelemetryOptions) =>
  Telemetry.layer({ serviceName: "bench", summaryCapacity: 100, ...options })

const apps = {
  native: HttpRouter.toWebHandler(Routes.pipe(Layer.provideMerge(registry())), { disableLogger: true }),
  adopted: HttpRouter.toWebHandler(
    Routes.pipe(Layer.provideMerge(telemetry({})), Layer.provideMerge(registry())),
    { disableLogger: true },
  ),
  provided: HttpRouter.toWebHandler(
    Routes.pipe(Layer.provide(telemetry({})), Layer.provideMerge(registry())),
    { disableLogger: true },
  ),
  passThrough: HttpRouter.toWebHandler(
    Routes.pipe(
      Layer.provideMerge(
        Layer.succeed(Tracer.Tracer, Tracer.make({ span: (o) => Tracer.nativeTracer.span(o) })),
      ),
      Layer.provideMerge(registry()),
    ),
    { disableLogger: true },
  ),
  off: HttpRouter.toWebHandler(
    Routes.pipe(Layer.provideMerge(telemetry({ instrument: false })), Layer.provideMerge(registry())),
    { disableLogger: true },
  ),
}
const call = (app: keyof typeof apps, path: string) => async (): Promise<void> => {
  const handler = apps[app].handler as (request: Request) => Promise<Response>
  await (await handler(new Request(`http://127.0.0.1:8000${path}`))).text()
}

// Warm up every app together (the layers build on the first request; then the JIT's warm-up, which the
// first bench would otherwise pay alone: the baseline, 2-5x its steady time in some runs).
for (let i = 0; i < 5_000; i++) {
  for (const app of Object.keys(apps) as Array<keyof typeof apps>) await call(app, "/chat/1")()
}

Deno.bench(
  "HttpRouter request, Effect's native tracer",
  { group: "router", baseline: true },
  call("native", "/chat/1"),
)
Deno.bench("HttpRouter request, Telemetry.layer() (adopted)", { group: "router" }, call("adopted", "/chat/1"))
Deno.bench(
  "HttpRouter request, Telemetry.layer() with Layer.provide",
  { group: "router" },
  call("provided", "/chat/1"),
)
Deno.bench(
  "HttpRouter request, Telemetry.layer({ instrument: false })",
  { group: "router" },
  call("off", "/chat/1"),
)

Deno.bench(
  "HttpRouter request, a pass-through tracer (Effect's own server span work)",
  { group: "router" },
  call("passThrough", "/chat/1"),
)

Deno.bench(
  "HttpRouter + LanguageModel.generateText, Effect's native tracer",
  { group: "router+llm", baseline: true },
  call("native", "/llm/1"),
)
Deno.bench(
  "HttpRouter + LanguageModel.generateText, Telemetry.layer() (adopted)",
  { group: "router+llm" },
  call("adopted", "/llm/1"),
)

globalThis.addEventListener("unload", () => {
  for (const app of Object.values(apps)) void app.dispose()
})
