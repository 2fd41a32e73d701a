/**
 * HTTP servers and clients that join the distributed trace.
 *
 * - `Http.middleware(handler, { runtime })` wraps a web-standard handler (for `Deno.serve`) so that every
 *   request is a `Request.track` of kind `server`: it continues the caller's trace (W3C `traceparent`,
 *   `tracestate`, `baggage`), carries the HTTP server attributes of the OpenTelemetry semantic conventions,
 *   is failed by a 5xx response, honours `x-request-id`, and feeds `http_requests_total` and
 *   `http_request_duration_seconds{method,route,status}`. The handler may return a `Response`, a
 *   `Promise<Response>` or an `Effect` — an Effect handler runs inside the request, so its stages and its
 *   `Http.fetch` calls belong to it.
 * - `Http.toHandler` / `Http.serve` do the same with the services of the current Effect context instead
 *   of a `ManagedRuntime` (`Http.serve` also runs `Deno.serve` for the life of the scope).
 * - `Http.fetch(input, init?)` is a traced `fetch`: a client span (a stage of the current request when in
 *   one), the client attributes, and the W3C headers injected.
 *
 * Guide: [HTTP and propagation](../../docs/http.md).
 *
 * @module
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Data from "effect/Data"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { FetchError, type FetchOptionsShape, tracedFetch } from "./internal/client.ts"
import { TracingDisabled as TracingDisabledRef } from "./internal/context.ts"
import {
  type AnyHandler,
  type Forker,
  type HandlerContextShape,
  makeWebHandler,
  type ServeInfoLike,
  type ServerConfig,
} from "./internal/server.ts"
import { DURATION_BOUNDARIES, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL } from "./internal/metrics.ts"
import type { TaggedErrorClass } from "../internal/taggedError.ts"

export { FetchError }

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * What the server passes as the handler's second argument: `Deno.ServeHandlerInfo` under `Deno.serve`
 * (only `remoteAddr` is read, for `client.address`), `undefined` elsewhere.
 *
 * @category models
 * @since 0.1.0
 */
export type ServeInfo = ServeInfoLike

/**
 * The handler's third argument: the ids of its request and `run`, which runs an effect inside the
 * request (its span, its baggage, its stages) from Promise-based handler code.
 *
 * @category models
 * @since 0.1.0
 */
export interface HandlerContext<R = never> extends HandlerContextShape<R> {
  /** The request id (`x-request-id` when valid, else a random UUID). */
  readonly requestId: string
  /** The trace id of the request span. */
  readonly traceId: string
  /** The span id of the request span. */
  readonly spanId: string
  /** Runs `effect` as part of this request (for example `ctx.run(Http.fetch(url))`). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, R>) => Promise<A>
}

/**
 * A request handler: web-standard (`Response` or `Promise<Response>`, for `Deno.serve`), or returning an
 * `Effect` that runs inside the request. A throw, a rejection or an Effect failure is recorded, then
 * passed on to the server (its `onError`), as if the handler were not wrapped.
 *
 * @category models
 * @since 0.1.0
 */
export type Handler<E = unknown, R = never> = (
  request: globalThis.Request,
  info: ServeInfo | undefined,
  context: HandlerContext<R>,
) => Response | PromiseLike<Response> | Effect.Effect<Response, E, R>

/**
 * A wrapped handler, to give to `Deno.serve` (or any server taking web-standard handlers).
 *
 * @category models
 * @since 0.1.0
 */
export type WebHandler = (request: globalThis.Request, info?: ServeInfo) => Promise<Response>

/**
 * Options of `Http.middleware`, `Http.toHandler` and `Http.serve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MiddlewareOptions {
  /**
   * The route template (`"/users/:id"`) for `http.route`, the span name and the metrics' `route` label.
   * Give a function when one middleware serves several routes. Never give the raw path: it is unbounded.
   */
  readonly route?: string | ((request: globalThis.Request) => string | undefined) | undefined
  /**
   * The request name (span name, summaries, `stagetrace_requests_total{request}`).
   * @default `"{method} {route}"`, or just the method without a route (the OpenTelemetry convention)
   */
  readonly name?: string | ((request: globalThis.Request) => string | undefined) | undefined
  /**
   * The header whose value becomes the request id when it is 1–128 visible ASCII characters; `false`
   * to always generate one. An invalid value, or a name that is not a header name, is counted as
   * `invalid_request_id` and a request id is generated.
   * @default "x-request-id"
   */
  readonly requestIdHeader?: string | false | undefined
  /**
   * Continue the caller's trace from its `traceparent`, `tracestate` and `baggage`. Set `false` on a
   * public edge (a trust boundary): requests then start new traces and incoming baggage is ignored.
   * @default true
   */
  readonly extract?: boolean | undefined
  /**
   * Record `http_requests_total` and `http_request_duration_seconds`.
   * @default true
   */
  readonly metrics?: boolean | undefined
  /**
   * Distinct routes labelled in the metrics; later ones are labelled `_OTHER` (and counted as
   * `http_route_overflow` drops).
   * @default 1000
   */
  readonly maxRoutes?: number | undefined
  /** Latency budget of every request served. */
  readonly budget?: Duration.Input | undefined
  /** Extra request attributes (set on the span and kept in the summary). */
  readonly attributes?: ((request: globalThis.Request) => Readonly<Record<string, unknown>>) | undefined
  /**
   * Interrupt the handler's effect when the client disconnects (the request's `AbortSignal`); the request
   * is then recorded as interrupted, status 499. Off by default: a wrapped handler runs to completion as a
   * plain `Deno.serve` handler does (and as Effect's own web handlers do), and the signal is never read.
   * When on, the signal is read only for requests still running after their synchronous part; Deno
   * without `--unstable-no-legacy-abort` then prints a one-time notice about that signal ("request.signal
   * aborts on successful responses"), which the flag silences.
   * @default false
   */
  readonly interruptOnAbort?: boolean | undefined
}

/**
 * Options of `Http.middleware`: the runtime the requests run in.
 *
 * @category models
 * @since 0.1.0
 */
export interface RuntimeOptions<R> extends MiddlewareOptions {
  /**
   * The runtime every request runs in, usually `ManagedRuntime.make(Telemetry.layer(…))`: its recorder,
   * exporters and metric registry receive the requests. Required: without it the requests would land in
   * stagetrace's process-wide recorder, which no exporter, `OTEL_*` variable or layer of yours ever sees.
   * For that on purpose, give a runtime without the telemetry layer (`ManagedRuntime.make(Layer.empty)`).
   */
  readonly runtime: ManagedRuntime.ManagedRuntime<R, unknown>
}

const missingRuntime = (): TypeError =>
  new TypeError(
    "Http.middleware needs the `runtime` option: Http.middleware(handler, { runtime }) with " +
      "runtime = ManagedRuntime.make(Telemetry.layer(…)), whose recorder and exporters receive the requests " +
      "(inside an Effect program, use Http.toHandler or Http.serve instead)",
  )

const validate = (options: MiddlewareOptions | undefined): ServerConfig => {
  const route = options?.route
  const name = options?.name
  const maxRoutes = options?.maxRoutes
  const header = options?.requestIdHeader
  return {
    route: route === undefined ? undefined : typeof route === "string" ? () => route : route,
    name: name === undefined ? undefined : typeof name === "string" ? () => name : name,
    requestIdHeader: header === false ? undefined : (header ?? "x-request-id").toLowerCase(),
    extract: options?.extract !== false,
    metrics: options?.metrics !== false,
    maxRoutes: maxRoutes !== undefined && Number.isInteger(maxRoutes) && maxRoutes >= 0 ? maxRoutes : 1000,
    budget: options?.budget,
    attributes: options?.attributes,
    routes: new Set(),
  }
}

// ---------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------

/**
 * Wraps a request handler so that every request is tracked: a `Request.track` of kind `server` that
 * continues the caller's W3C trace context and baggage, with the attributes `http.request.method`,
 * `url.path`, `url.scheme`, `server.address`, `server.port`, `http.route` (when given),
 * `user_agent.original`, `client.address` and `http.response.status_code`. A 5xx response marks the
 * request failed (`error.type` is the status code); a 4xx does not (server spans, as the conventions
 * say). Metrics `http_requests_total` and `http_request_duration_seconds{method,route,status}` are
 * recorded in the runtime's registry.
 *
 * Requests run in `options.runtime` (a `ManagedRuntime` built from `Telemetry.layer`); dispose it when
 * the server stops. From inside an Effect program, prefer `Http.serve` or `Http.toHandler`.
 *
 * `runtime` is required: without it the requests would go to the process-wide recorder and nothing of
 * yours would ever see them, so a call without it does not type-check and, from untyped code, throws a
 * `TypeError` naming the option when the middleware is built (never while serving).
 *
 * @example A Deno.serve handler
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, ManagedRuntime } from "effect"
 * import { Http, Stage, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "api" }))
 * const handler = Http.middleware(
 *   () => Effect.succeed(Response.json({ ok: true })).pipe(Stage.track("answer")),
 *   { runtime, route: "/answer" },
 * )
 *
 * const response = await handler(new Request("http://localhost/answer", { headers: { "x-request-id": "r-1" } }))
 * assert.equal(response.status, 200)
 * const [summary] = await runtime.runPromise(Summaries.recent(1))
 * assert.equal(summary?.name, "GET /answer")
 * assert.equal(summary?.requestId, "r-1")
 * assert.equal(summary?.attributes["http.response.status_code"], 200)
 * await response.body?.cancel()
 * await runtime.dispose()
 * ```
 *
 * @category server
 * @since 0.1.0
 */
export const middleware = <E, R>(handler: Handler<E, R>, options: RuntimeOptions<R>): WebHandler => {
  const runtime = (options as Partial<RuntimeOptions<R>> | undefined)?.runtime
  if (runtime === undefined || runtime === null) throw missingRuntime()
  const fork: Forker<R> = (effect) => runtime.runFork(effect)
  return makeWebHandler(
    validate(options),
    handler as AnyHandler<E, R>,
    fork,
    options.interruptOnAbort === true,
  )
}

/**
 * A web handler that runs every request with the services of the current context (the telemetry layer
 * included), as `Http.middleware` does with a runtime. Requests start their own traces (the span the
 * handler was built under is not their parent); the handler must not be used after that context's scope
 * closed.
 *
 * @example A handler for another server
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Http, Stage, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const handler = yield* Http.toHandler(() => Effect.succeed(new Response("ok")).pipe(Stage.track("answer")), {
 *       route: "/answer",
 *     })
 *     const response = yield* Effect.promise(() => handler(new Request("http://localhost/answer")))
 *     yield* Effect.promise(() => response.text())
 *     const [summary] = yield* Summaries.recent(1)
 *     return summary
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(summary?.name, "GET /answer")
 * assert.deepEqual(summary?.stages.map((s) => s.stageId), ["answer"])
 * ```
 *
 * @category server
 * @since 0.1.0
 */
export const toHandler = <E = never, R = never>(
  handler: Handler<E, R>,
  options?: MiddlewareOptions,
): Effect.Effect<WebHandler, never, R> =>
  Effect.map(Effect.context<R>(), (context) => {
    const bound = Context.omit(Tracer.ParentSpan)(context) as Context.Context<R>
    const fork: Forker<R> = Effect.runForkWith(bound)
    return makeWebHandler(
      validate(options),
      handler as AnyHandler<E, R>,
      fork,
      options?.interruptOnAbort === true,
    )
  })

/**
 * Options of `Http.serve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServeOptions extends MiddlewareOptions {
  /**
   * The interface to listen on.
   * @default "0.0.0.0" (Deno's default)
   */
  readonly hostname?: string | undefined
  /**
   * The port; `0` picks a free one (read it from the result).
   * @default 8000 (Deno's default)
   */
  readonly port?: number | undefined
  /** Called with the server's error when a handler fails; its response is sent (Deno's `onError`). */
  readonly onError?: ((error: unknown) => Response | Promise<Response>) | undefined
}

/**
 * The address `Http.serve` listens on.
 *
 * @category models
 * @since 0.1.0
 */
export interface Server {
  /** The address the server listens on. */
  readonly hostname: string
  /** The port it listens on (the one picked when `port: 0` was given). */
  readonly port: number
  /** `http://hostname:port`. */
  readonly url: string
}

/** The fields of `ServeError`. */
interface ServeErrorFields {
  readonly cause: unknown
}

const ServeErrorBase: TaggedErrorClass<"ServeError", ServeErrorFields> = Data.TaggedError(
  "ServeError",
)<ServeErrorFields>

/**
 * `Http.serve` could not listen (the port is taken, permission denied…).
 *
 * @example A port already taken
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Http } from "@stagetrace/stagetrace"
 *
 * const error = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const first = yield* Http.serve(() => new Response("ok"), { hostname: "127.0.0.1", port: 0 })
 *     return yield* Effect.flip(Http.serve(() => new Response("ok"), { hostname: "127.0.0.1", port: first.port }))
 *   }).pipe(Effect.scoped),
 * )
 * assert.equal(error._tag, "ServeError")
 * assert.match(error.message, /^Cannot start the HTTP server: /)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ServeError extends ServeErrorBase {
  /** `Cannot start the HTTP server: <cause>`. */
  override get message(): string {
    return `Cannot start the HTTP server: ${
      this.cause instanceof Error ? this.cause.message : String(this.cause)
    }`
  }
}

/**
 * Serves `handler` with `Deno.serve` for the life of the current scope, every request tracked as with
 * `Http.middleware` and run with the services of the current context. Closing the scope shuts the server
 * down gracefully (in-flight requests finish first).
 *
 * @example Serving on a free port
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Http, Request, Telemetry } from "@stagetrace/stagetrace"
 *
 * const program = Effect.gen(function* () {
 *   const server = yield* Http.serve(() => Effect.map(Request.currentId, () => new Response("hi")), {
 *     hostname: "127.0.0.1",
 *     port: 0,
 *   })
 *   const response = yield* Http.fetch(`${server.url}/`)
 *   return yield* Effect.promise(() => response.text())
 * })
 *
 * const text = await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Telemetry.layer())))
 * assert.equal(text, "hi")
 * ```
 *
 * @category server
 * @since 0.1.0
 */
export const serve = <E = never, R = never>(
  handler: Handler<E, R>,
  options?: ServeOptions,
): Effect.Effect<Server, ServeError, R | Scope.Scope> =>
  Effect.gen(function* () {
    const web = yield* toHandler(handler, options)
    const server = yield* Effect.try({
      try: () =>
        Deno.serve({
          onListen: () => {},
          ...(options?.hostname === undefined ? {} : { hostname: options.hostname }),
          ...(options?.port === undefined ? {} : { port: options.port }),
          ...(options?.onError === undefined ? {} : { onError: options.onError }),
        }, web),
      catch: (cause) => new ServeError({ cause }),
    })
    yield* Effect.addFinalizer(() => Effect.promise(() => server.shutdown()))
    const addr = server.addr
    const hostname = addr.hostname
    const host = hostname.includes(":") ? `[${hostname}]` : hostname
    return { hostname, port: addr.port, url: `http://${host}:${addr.port}` }
  })

// ---------------------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------------------

/**
 * Options of `Http.fetch`.
 *
 * @category models
 * @since 0.1.0
 */
export interface FetchOptions extends FetchOptionsShape {
  /**
   * The stage id of the call. By default a call inside a request is its stage `http_fetch` and a call
   * outside any request is only a client span; a given id always makes a stage; `false` never does.
   * @default "http_fetch" inside a request
   */
  readonly stage?: string | false | undefined
  /** The URL template (`"/users/{id}"`): the span is named `{method} {template}` and gets `url.template`. */
  readonly urlTemplate?: string | undefined
  /**
   * Inject `traceparent`, `tracestate` and `baggage` (turn off for third parties outside your trust
   * boundary).
   * @default true
   */
  readonly propagate?: boolean | undefined
  /**
   * Which statuses mark the client span and stage failed (the response is returned either way).
   * @default status >= 400, as the conventions say for clients
   */
  readonly isError?: ((status: number) => boolean) | undefined
  /**
   * The `fetch` to call.
   * @default globalThis.fetch
   */
  readonly fetch?: typeof globalThis.fetch | undefined
}

/**
 * A traced `fetch`: a client span named after the method (`http.request.method`, `url.full` with
 * credentials redacted, `server.address`, `server.port`, `http.response.status_code`), a stage of the
 * current request when inside one, with `traceparent`, `tracestate` and `baggage` injected. The response
 * is returned whatever its status (read or cancel its body); a network error fails with `FetchError`;
 * interrupting the effect aborts the request.
 *
 * With `Http.TracingDisabled` (or Effect's tracer disabled: `Effect.withTracerEnabled(false)`) it is a
 * plain `fetch`: no span and no headers.
 *
 * @example Calling another service inside a request
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Http, Request } from "@stagetrace/stagetrace"
 *
 * const seen: Array<string | null> = []
 * const fakeFetch = (_input: string | URL | Request, init?: RequestInit) => {
 *   seen.push(new Headers(init?.headers).get("traceparent"))
 *   return Promise.resolve(new Response("ok"))
 * }
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const response = yield* Http.fetch("http://kb.internal/search", undefined, { fetch: fakeFetch })
 *     yield* Effect.promise(() => response.text())
 *     return yield* Request.summary
 *   }).pipe(Request.track("chat")),
 * )
 * assert.equal(summary.stages[0]?.stageId, "http_fetch")
 * assert.match(seen[0]!, new RegExp(`^00-${summary.traceId}-[0-9a-f]{16}-03$`))
 * ```
 *
 * @category client
 * @since 0.1.0
 */
export const fetch = (
  input: string | URL | globalThis.Request,
  init?: RequestInit,
  options?: FetchOptions,
): Effect.Effect<Response, FetchError> => tracedFetch(input, init, options)

/**
 * When `true`, `Http.fetch` neither traces nor injects headers for the effects it is provided to: for calls
 * that must not show up in traces, such as your own telemetry backends
 * (`Effect.provideService(effect, Http.TracingDisabled, true)`, or `Http.withoutTracing`). stagetrace's
 * exporters never go through `Http.fetch`: they post with a plain `fetch` (or a raw connection under
 * `OTEL_DENO=true`), outside any span.
 *
 * @example A call kept out of traces
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Http, Request } from "@stagetrace/stagetrace"
 *
 * const sent: Array<string | null> = []
 * const fakeFetch = (_: string | URL | Request, init?: RequestInit) => {
 *   sent.push(new Headers(init?.headers).get("traceparent"))
 *   return Promise.resolve(new Response("ok"))
 * }
 * const call = Http.fetch("http://telemetry.internal/ingest", undefined, { fetch: fakeFetch }).pipe(
 *   Effect.flatMap((response) => Effect.promise(() => response.text())),
 * )
 * await Effect.runPromise(
 *   call.pipe(Effect.provideService(Http.TracingDisabled, true), Request.track("job")),
 * )
 * assert.deepEqual(sent, [null])
 * ```
 *
 * @category client
 * @since 0.1.0
 */
export const TracingDisabled: Context.Reference<boolean> = TracingDisabledRef

/**
 * Runs an effect with `Http.fetch` tracing and header injection turned off.
 *
 * @example A plain fetch
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Http, Request } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const response = yield* Http.fetch("http://kb.internal/", undefined, {
 *       fetch: () => Promise.resolve(new Response("ok")),
 *     }).pipe(Http.withoutTracing)
 *     yield* Effect.promise(() => response.text())
 *     return yield* Request.summary
 *   }).pipe(Request.track("job")),
 * )
 * assert.equal(summary.stages.length, 0) // no http_fetch stage
 * ```
 *
 * @category client
 * @since 0.1.0
 */
export const withoutTracing = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(self, TracingDisabledRef, true)

// ---------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------

/**
 * The HTTP metrics `Http.middleware` records, with their labels and buckets (seconds).
 *
 * @example The HTTP metric names
 * ```ts
 * import assert from "node:assert/strict"
 * import { Http } from "@stagetrace/stagetrace"
 *
 * assert.equal(Http.metrics.requestsTotal, "http_requests_total")
 * assert.deepEqual(Http.metrics.labels, ["method", "route", "status"])
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const metrics: {
  readonly requestsTotal: string
  readonly requestDurationSeconds: string
  readonly labels: ReadonlyArray<string>
  readonly durationBoundaries: ReadonlyArray<number>
} = {
  requestsTotal: REQUESTS_TOTAL,
  requestDurationSeconds: REQUEST_DURATION_SECONDS,
  labels: ["method", "route", "status"],
  durationBoundaries: DURATION_BOUNDARIES,
}
