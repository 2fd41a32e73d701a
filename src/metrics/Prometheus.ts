/**
 * The Prometheus endpoint for stagetrace's metrics (and every other metric in the same Effect
 * `MetricRegistry`): `Prometheus.format` renders the exposition, `Prometheus.handler` is a web-standard
 * `(request) => Promise<Response>` for any server, and `Prometheus.layerServer` serves `/metrics` on
 * 127.0.0.1 for the life of a layer.
 *
 * Both formats are served, chosen from the scraper's `Accept` header: the text format 0.0.4
 * (`text/plain; version=0.0.4`) and OpenMetrics 1.0 (`application/openmetrics-text`, ending in `# EOF`,
 * which Prometheus asks for first). Every family has `# HELP` and `# TYPE`, and `# UNIT` when it has a
 * unit; counters end in `_total`, histograms expose `_bucket{le}` (with `+Inf`), `_sum` and `_count`, and
 * label values and help texts are escaped.
 *
 * stagetrace renders the exposition itself instead of using Effect's `PrometheusMetrics`, which names
 * counters without `_total`, has no units or OpenMetrics, and rebuilds every label set on every scrape:
 * here headers and escaped label sets are computed once per family and series, so a scrape is string
 * concatenation (see `bench/metrics_bench.ts`).
 *
 * Guide: [Metrics and Prometheus](../../docs/metrics-and-prometheus.md#prometheus).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { TelemetryConfigError } from "../internal/config.ts"
import { Metrics } from "./Metrics.ts"
import {
  type FormatChoice,
  type HandlerOptions,
  type ServerOptions,
  validateHandlerOptions,
  validateServerOptions,
} from "./internal/options.ts"
import { renderScrape } from "./internal/render.ts"
import {
  makeHandler,
  negotiate as negotiateImpl,
  openMetricsContentType as omType,
  serve,
  textContentType as textType,
} from "./internal/server.ts"
import { Store } from "./internal/store.ts"

export type { FormatChoice, HandlerOptions, ServerOptions }

/**
 * An exposition format: the text format 0.0.4 or OpenMetrics 1.0.
 *
 * @category models
 * @since 0.1.0
 */
export type Format = "text" | "openmetrics"

/**
 * The `Content-Type` of the text format 0.0.4.
 *
 * @example Content types
 * ```ts
 * import assert from "node:assert/strict"
 * import { Prometheus } from "@stagetrace/stagetrace"
 *
 * assert.match(Prometheus.textContentType, /^text\/plain; version=0\.0\.4/)
 * assert.match(Prometheus.openMetricsContentType, /^application\/openmetrics-text; version=1\.0\.0/)
 * ```
 *
 * @category exposition
 * @since 0.1.0
 */
export const textContentType: string = textType

/**
 * The `Content-Type` of OpenMetrics 1.0.
 *
 * @category exposition
 * @since 0.1.0
 */
export const openMetricsContentType: string = omType

/**
 * The format to answer an `Accept` header with: OpenMetrics when the header ranks
 * `application/openmetrics-text` at least as high as `text/plain`, else the text format.
 *
 * @example Prometheus' own Accept header
 * ```ts
 * import assert from "node:assert/strict"
 * import { Prometheus } from "@stagetrace/stagetrace"
 *
 * assert.equal(
 *   Prometheus.negotiate("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1"),
 *   "openmetrics",
 * )
 * assert.equal(Prometheus.negotiate("text/plain"), "text")
 * assert.equal(Prometheus.negotiate(null), "text")
 * ```
 *
 * @category exposition
 * @since 0.1.0
 */
export const negotiate = (accept: string | null | undefined): Format => negotiateImpl(accept)

const storeOf = (service: unknown): Store | undefined => (service instanceof Store ? service : undefined)

/**
 * Renders the current `Metrics` store and the other metrics of its registry.
 *
 * @example The exposition of one counter
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics, Prometheus } from "@stagetrace/stagetrace"
 *
 * const text = await Effect.runPromise(
 *   Metrics.increment(MetricCatalogue.httpRequestsTotal, { method: "GET", route: "/chat", status: 200 }).pipe(
 *     Effect.andThen(Prometheus.format("openmetrics")),
 *     Effect.provide(Metrics.layer({ systemMetrics: false })),
 *   ),
 * )
 * assert.match(text, /# TYPE http_requests counter/)
 * assert.match(text, /http_requests_total\{method="GET",route="\/chat",status="200"\} 1/)
 * assert.ok(text.endsWith("# EOF\n"))
 * ```
 *
 * @category exposition
 * @since 0.1.0
 */
export const format = (format: Format = "text"): Effect.Effect<string> =>
  Effect.withFiber((fiber) => {
    const store = storeOf(fiber.getRef(Metrics))
    if (store === undefined) return Effect.succeed(format === "openmetrics" ? "# EOF\n" : "")
    return renderScrape(store, fiber.context, format === "openmetrics")
  })

/**
 * A web-standard handler serving the current `Metrics` store, for `Deno.serve`, Hono, or any router:
 * `GET`/`HEAD` only, format from the `Accept` header (unless `format` fixes it), `401` without the bearer
 * token when one is set. Invalid options fail with `TelemetryConfigError`.
 *
 * @example Serving with any web server
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics, Prometheus } from "@stagetrace/stagetrace"
 *
 * const handle = await Effect.runPromise(
 *   Prometheus.handler({ bearerToken: "s3cret" }).pipe(Effect.provide(Metrics.layer())),
 * )
 * const denied = await handle(new Request("http://localhost/metrics"))
 * assert.equal(denied.status, 401)
 * const ok = await handle(new Request("http://localhost/metrics", { headers: { authorization: "Bearer s3cret" } }))
 * assert.equal(ok.headers.get("content-type"), Prometheus.textContentType)
 * await ok.body?.cancel()
 * ```
 *
 * @category exposition
 * @since 0.1.0
 */
export const handler = (
  options?: HandlerOptions,
): Effect.Effect<(request: Request) => Promise<Response>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const config = yield* validateHandlerOptions(options, "")
    const store = storeOf(yield* Metrics)
    const context = yield* Effect.context<never>()
    return makeHandler(store, context, config)
  })

/**
 * Serves the `Metrics` store of the context it is built in on `http://hostname:port/metrics` for the
 * life of the layer (the server closes when the layer's scope closes). A port that cannot be bound or an
 * invalid option fails the layer with `TelemetryConfigError`. `Telemetry.layer({ prometheus: {...} })`
 * does the same for its own store.
 *
 * @example A server on a free port
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Layer } from "effect"
 * import { Metrics, Prometheus } from "@stagetrace/stagetrace"
 *
 * const status = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const address = yield* Prometheus.serverAddress
 *     const response = yield* Effect.promise(() => fetch(address!.url))
 *     yield* Effect.promise(() => response.body!.cancel())
 *     return response.status
 *   }).pipe(Effect.provide(Prometheus.layerServer({ port: 0 }).pipe(Layer.provideMerge(Metrics.layer())))),
 * )
 * assert.equal(status, 200)
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerServer = (options?: ServerOptions): Layer.Layer<never, TelemetryConfigError> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const config = yield* validateServerOptions(options, "")
      const store = storeOf(yield* Metrics)
      if (store === undefined) return
      const context = yield* Effect.context<never>()
      yield* serve(store, context, config, "")
    }),
  )

/**
 * Where the Prometheus server of the current `Metrics` store listens, once one does (`undefined`
 * otherwise); useful with `port: 0`.
 *
 * @example Where the server listens
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Prometheus, Telemetry } from "@stagetrace/stagetrace"
 *
 * const address = await Effect.runPromise(
 *   Prometheus.serverAddress.pipe(Effect.provide(Telemetry.layer({ prometheus: { port: 0 } }))),
 * )
 * assert.equal(address?.hostname, "127.0.0.1")
 * assert.equal(address?.url, `http://127.0.0.1:${address?.port}/metrics`)
 * ```
 *
 * @category exposition
 * @since 0.1.0
 */
export const serverAddress: Effect.Effect<
  { readonly hostname: string; readonly port: number; readonly url: string } | undefined
> = Effect.withFiber((fiber) => Effect.succeed(storeOf(fiber.getRef(Metrics))?.server))
