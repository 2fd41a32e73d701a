/**
 * A stagetrace service for `deno serve --parallel`: every worker isolate runs this module with its own
 * telemetry, and `aggregateIsolates` makes `/metrics` answer for all of them, whichever worker the kernel
 * hands the scrape to.
 *
 * ```sh
 * deno serve --parallel --allow-net examples/parallel_serve.ts   # DENO_JOBS=4 for 4 workers
 * for i in $(seq 20); do curl -s localhost:8000/chat > /dev/null; done
 * curl -s localhost:8000/metrics | grep -E '^(stagetrace_requests_total|stagetrace_metric_isolates)'
 * ```
 *
 * Every scrape reports all 20 requests and `stagetrace_metric_isolates{status="fresh"}` the number of
 * workers. Without `aggregateIsolates`, each scrape would report one worker's share.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Http, Prometheus, Stage, Telemetry } from "../mod.ts"

const runtime = ManagedRuntime.make(
  Telemetry.layer({
    serviceName: "chat",
    // Ask the other workers at every scrape (over a BroadcastChannel), wait at most 500 ms, merge.
    aggregateIsolates: true,
  }),
)

// `deno serve` exits once every worker's event loop is empty: dispose the runtime on shutdown, which
// closes the aggregation channel and flushes what the layer holds.
for (const signal of Deno.build.os === "windows" ? ["SIGINT"] as const : ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void runtime.dispose())
}

const metrics = await runtime.runPromise(Prometheus.handler())

const chat = Http.middleware(
  () =>
    Effect.gen(function* () {
      yield* Effect.sleep("2 millis").pipe(Stage.track("auth_check"))
      yield* Effect.sleep("10 millis").pipe(Stage.track("knowledge_base"))
      yield* Effect.sleep("30 millis").pipe(Stage.track("llm_request"))
      return Response.json({ answer: "42" })
    }),
  { runtime, route: "/chat" },
)

export default {
  fetch: (request: Request): Promise<Response> =>
    new URL(request.url).pathname === "/metrics" ? metrics(request) : chat(request),
} satisfies Deno.ServeDefaultExport
