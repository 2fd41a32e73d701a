/**
 * Propagation and middleware overhead, in one `deno bench` run:
 *
 * - `extract`: `Propagation.parse` against Effect's own `HttpTraceContext.fromHeaders` (traceparent only,
 *   no validation of tracestate or baggage): of a traceparent alone (like for like), then of traceparent +
 *   tracestate + baggage;
 * - `inject`: a request that injects its context into a `Headers` against the same request without;
 * - `middleware`: a `Deno.serve` handler wrapped by `Http.middleware` (request span, attributes, metrics)
 *   against the bare handler, both called with a web `Request` (no sockets), with and without incoming
 *   trace context.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import { Headers as EffectHeaders, HttpTraceContext } from "effect/http"
import { Http, Propagation, Request, Telemetry } from "../mod.ts"

const incoming = {
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  tracestate: "ot=th:8,congo=t61rcWkgMzE",
  baggage: "userId=alice,serverNode=DF%2028",
}
const webHeaders = new Headers(incoming)
const effectHeaders = EffectHeaders.fromInput(incoming)
const traceparentOnly = new Headers({ traceparent: incoming.traceparent })

// --- extract ----------------------------------------------------------------------------------------------
Deno.bench("HttpTraceContext.fromHeaders (traceparent only)", { group: "extract", baseline: true }, () => {
  HttpTraceContext.fromHeaders(effectHeaders)
})
Deno.bench("Propagation.parse (traceparent only, web Headers)", { group: "extract" }, () => {
  Propagation.parse(traceparentOnly)
})
Deno.bench("Propagation.parse (record)", { group: "extract" }, () => {
  Propagation.parse(incoming)
})
Deno.bench("Propagation.parse (web Headers)", { group: "extract" }, () => {
  Propagation.parse(webHeaders)
})

// --- inject -----------------------------------------------------------------------------------------------
const plainRequest = Effect.void.pipe(Request.track("r"))
const injectingRequest = Propagation.inject(new Headers()).pipe(
  Propagation.withBaggage({ userId: "alice" }),
  Request.track("r"),
)
Deno.bench("Request.track", { group: "inject", baseline: true }, () => {
  Effect.runSync(plainRequest)
})
Deno.bench("Request.track + Propagation.inject (traceparent + baggage)", { group: "inject" }, () => {
  Effect.runSync(injectingRequest)
})

// --- middleware -------------------------------------------------------------------------------------------
const runtime = ManagedRuntime.make(
  Telemetry.layer({ serviceName: "bench", summaryCapacity: 100 }).pipe(
    Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
  ),
)
await runtime.runPromise(Effect.void)
const bare = (_request: globalThis.Request) => new Response("ok")
const wrapped = Http.middleware(bare, { runtime, route: "/chat", interruptOnAbort: false })
const wrappedEffect = Http.middleware(() => Effect.succeed(new Response("ok")), {
  runtime,
  route: "/chat",
  interruptOnAbort: false,
})
const makeRequest = () => new globalThis.Request("http://127.0.0.1:8000/chat", { headers: incoming })
const makePlainRequest = () => new globalThis.Request("http://127.0.0.1:8000/chat")

Deno.bench("bare handler", { group: "middleware", baseline: true }, async () => {
  await bare(makeRequest())
})
Deno.bench("Http.middleware (plain handler, trace context continued)", { group: "middleware" }, async () => {
  await wrapped(makeRequest())
})
Deno.bench("Http.middleware (plain handler, no trace headers)", { group: "middleware" }, async () => {
  await wrapped(makePlainRequest())
})
Deno.bench("Http.middleware (Effect handler, trace context continued)", { group: "middleware" }, async () => {
  await wrappedEffect(makeRequest())
})

globalThis.addEventListener("unload", () => {
  void runtime.dispose()
})
