/**
 * A live dashboard served by the process itself: open one URL and watch what the service does now, with
 * no Grafana, Jaeger or collector to install. `Telemetry.layer({ dashboard: true })` serves it on
 * `http://127.0.0.1:9465/dashboard/`; `Dashboard.handler()` mounts it on a server of your own (as
 * `Prometheus.handler` does for metrics).
 *
 * The page is one self-contained HTML document (inline CSS, script and SVG charts: no CDN, no build step,
 * works offline), read-only, updated over Server-Sent Events. It shows throughput, error rate and requests
 * in flight over the last minutes; per-stage p50/p95/p99 per time bucket (read from the same DDSketches as
 * `StageStats`) with each stage's budget; the newest, slowest and failed requests, and on click a request's
 * stage waterfall, its errors (category, metadata), its trace id (a link when `traceUrl` is set) and its own
 * log records; the bottleneck ranking, budget violations, errors by category, alerts (error frequency and
 * latency anomalies) as they fire, exporter and health status; and a search by request id.
 *
 * What it costs: per request, a few counter updates and one sketch insertion on the recorder's `summary`
 * hook; nothing per stage (stage quantiles per bucket are differences of the `StageStats` sketches, read
 * when a bucket closes). JSON is built once per interval, only while a page is open, and each page has a
 * bounded buffer: a browser that does not keep up is dropped and counted (`dashboard_slow_client` in
 * `stagetrace_dropped_samples_total`), and reconnects by itself. Memory is bounded whatever the traffic:
 * `buckets` time buckets, `tableSize` requests per list, `logCapacity` log records.
 *
 * It binds 127.0.0.1 by default. A bearer token is optional on a loopback address and required on any
 * other (the layer fails with a `TelemetryConfigError` naming `dashboard.bearerToken`); with a token, open
 * the page once as `…/dashboard/?token=<token>` (it is kept in an HttpOnly cookie) or send
 * `Authorization: Bearer <token>`.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { optionError, type TelemetryConfigError } from "../internal/config.ts"
import { CurrentRecorder } from "../internal/recorder.ts"
import { DashboardSlot } from "./internal/concern.ts"
import { makeHandler } from "./internal/http.ts"
import type { HandlerOptions } from "./internal/dashboardModel.ts"
import { validateHandler } from "./internal/options.ts"

// ---------------------------------------------------------------------------------------------------------
// Options: HandlerOptions, DashboardOptions, DashboardTelemetryOptions (declared in
// ./internal/dashboardModel.ts, which the machinery reads)
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/dashboardModel.ts"

// ---------------------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------------------

/**
 * A web-standard handler serving the dashboard of the current telemetry layer, for `Deno.serve`, Hono or
 * any router: `GET`/`HEAD` under `path` (default `/dashboard`), `404` elsewhere, `401` without the bearer
 * token when one is set. Fails with `TelemetryConfigError` on invalid options, or when the telemetry layer
 * has no `dashboard` option.
 *
 * @example Mounting the dashboard on your own server
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Dashboard, Request, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const snapshot = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Effect.void.pipe(Stage.track("auth_check"), Request.track("chat", { requestId: "r-1" }))
 *     const handle = yield* Dashboard.handler({ bearerToken: "s3cret" })
 *     const denied = yield* Effect.promise(() => handle(new globalThis.Request("http://localhost/dashboard/")))
 *     assert.equal(denied.status, 401)
 *     yield* Effect.promise(() => denied.body!.cancel())
 *     const response = yield* Effect.promise(() =>
 *       handle(new globalThis.Request("http://localhost/dashboard/api/snapshot", { headers: { authorization: "Bearer s3cret" } }))
 *     )
 *     return yield* Effect.promise(() => response.json())
 *   }).pipe(Effect.provide(Telemetry.layer({ dashboard: { serve: false } }))),
 * )
 * assert.equal(snapshot.requests.newest[0].id, "r-1")
 * assert.equal(snapshot.stageTable[0].stageId, "auth_check")
 * ```
 *
 * @category serving
 * @since 0.2.0
 */
export const handler = (
  options?: HandlerOptions,
): Effect.Effect<(request: Request) => Promise<Response>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const config = yield* validateHandler(options, "")
    const installed = (yield* CurrentRecorder).get(DashboardSlot)
    if (installed === undefined) {
      return yield* Effect.fail(
        optionError(
          "dashboard",
          undefined,
          "Dashboard.handler needs the dashboard of Telemetry.layer: set its dashboard option ({ serve: false } to serve it only through this handler)",
        ),
      )
    }
    const clock = yield* Effect.clockWith((clock) => Effect.succeed(clock))
    return makeHandler(installed.state, config, installed.page, () => clock.currentTimeMillisUnsafe())
  })

/**
 * Where the dashboard's own server listens (its page's URL included), once it does; `undefined` when the
 * telemetry layer has no dashboard or `serve: false`. Useful with `port: 0`.
 *
 * @example Printing the dashboard URL
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Dashboard, Telemetry } from "@stagetrace/stagetrace"
 *
 * const url = await Effect.runPromise(
 *   Dashboard.serverAddress.pipe(Effect.provide(Telemetry.layer({ dashboard: { port: 0 } }))),
 * ).then((address) => address?.url)
 * assert.match(url ?? "", /^http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/)
 * ```
 *
 * @category serving
 * @since 0.2.0
 */
export const serverAddress: Effect.Effect<
  { readonly hostname: string; readonly port: number; readonly url: string } | undefined
> = Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder).get(DashboardSlot)?.address))
