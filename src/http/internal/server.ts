/**
 * The server side of `Http.middleware`: one `Request.track` per incoming request, continuing the caller's
 * trace, with the HTTP server attributes of the OpenTelemetry semantic conventions, a 5xx response
 * marking the request failed, and the HTTP metrics.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { CurrentRecorder } from "../../internal/recorder.ts"
import { now, timelineOf } from "../../internal/clock.ts"
import { currentRequest, makeServerRequestSpec, trackRequest } from "../../stage/internal/tracking.ts"
import type { Extracted } from "../Propagation.ts"
import { withRemoteContext } from "./context.ts"
import { countIssues, parseHeaders } from "./extract.ts"
import { NO_ROUTE, OVERFLOW_ROUTE, recordServerRequest } from "./metrics.ts"
import { normalizeMethod, requestUrlParts, spanName } from "./semconv.ts"

/** What `Deno.serve` passes as the handler's second argument (only `remoteAddr` is read). */
export interface ServeInfoLike {
  readonly remoteAddr?: { readonly transport?: string; readonly hostname?: string } | undefined
}

/** The third argument of a handler: the request's ids and a way to run effects inside the request. */
export interface HandlerContextShape<R> {
  readonly requestId: string
  readonly traceId: string
  readonly spanId: string
  readonly run: <A, E>(effect: Effect.Effect<A, E, R>) => Promise<A>
}

/** A handler as `Http.middleware` accepts it. */
export type AnyHandler<E, R> = (
  request: globalThis.Request,
  info: ServeInfoLike | undefined,
  context: HandlerContextShape<R>,
) => Response | PromiseLike<Response> | Effect.Effect<Response, E, R>

/** Validated middleware options. */
export interface ServerConfig {
  readonly route: ((request: globalThis.Request) => string | undefined) | undefined
  readonly name: ((request: globalThis.Request) => string | undefined) | undefined
  readonly requestIdHeader: string | undefined
  readonly extract: boolean
  readonly metrics: boolean
  readonly maxRoutes: number
  readonly budget: Duration.Input | undefined
  readonly attributes: ((request: globalThis.Request) => Readonly<Record<string, unknown>>) | undefined
  /** Routes seen by this middleware, for the metrics' cardinality bound. */
  readonly routes: Set<string>
}

/** A 5xx response, carried through the failure channel so that the request is recorded as failed. */
export class StatusFailure {
  /** The status code as the error type, as the conventions' `error.type` asks. */
  readonly _tag: string
  readonly message: string
  readonly response: Response
  constructor(response: Response) {
    this._tag = String(response.status)
    this.message = `HTTP ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`}`
    this.response = response
  }
}

/** Whether `u` is a `StatusFailure`. */
export const isStatusFailure = (u: unknown): u is StatusFailure => u instanceof StatusFailure

/** A request id received in a header: 1–128 visible ASCII characters. */
export const REQUEST_ID = /^[\x21-\x7e]{1,128}$/

/** The `Response` class, read once: under Deno the global is a getter, costly on every request. */
const ResponseClass: typeof Response = Response

/** The handler's result as a response, or a failure when it is not one (no closure per request). */
const checked = (value: unknown): Effect.Effect<Response, unknown> =>
  value instanceof ResponseClass
    ? Effect.succeed(value)
    : Effect.fail(new TypeError("The HTTP handler did not return a Response"))

/** A 5xx response recorded as failed is still the response served. */
const servedResponse = (failure: StatusFailure): Effect.Effect<Response> => Effect.succeed(failure.response)

const isPromiseLike = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/** Calls the handler, whatever it returns, as an effect. A throw or rejection is a failure. */
const callHandler = <E, R>(
  handler: AnyHandler<E, R>,
  request: globalThis.Request,
  info: ServeInfoLike | undefined,
  context: HandlerContextShape<R>,
): Effect.Effect<Response, unknown, R> => {
  let out: Response | PromiseLike<Response> | Effect.Effect<Response, E, R>
  try {
    out = handler(request, info, context)
  } catch (error) {
    return Effect.fail(error)
  }
  if (Effect.isEffect(out)) return Effect.flatMap(out, checked)
  if (isPromiseLike(out)) {
    const promise = out
    return Effect.flatMap(Effect.tryPromise({ try: () => promise, catch: (error) => error }), checked)
  }
  return checked(out)
}

const contextFor = <R>(
  fiberContext: Context.Context<never>,
  requestId: string,
  traceId: string,
  spanId: string,
) =>
  ({
    requestId,
    traceId,
    spanId,
    run: <A, E>(effect: Effect.Effect<A, E, R>): Promise<A> =>
      Effect.runPromiseWith(fiberContext as Context.Context<R>)(effect),
  }) satisfies HandlerContextShape<R>

/** The status a finished request reports in metrics. */
const statusOf = (exit: Exit.Exit<Response, unknown>): number =>
  exit._tag === "Success" ? exit.value.status : Cause.hasInterruptsOnly(exit.cause) ? 499 : 500

/** `f(request)`, or `undefined` when there is no `f` or it throws (no closure per request). */
const safeCall = <A>(
  f: ((request: globalThis.Request) => A) | undefined,
  request: globalThis.Request,
): A | undefined => {
  if (f === undefined) return undefined
  try {
    return f(request)
  } catch {
    return undefined
  }
}

/** Span names by method then route, computed once per pair (bounded by the middleware's routes). */
const spanNames = new Map<string, Map<string | undefined, string>>()

const cachedSpanName = (method: string, route: string | undefined): string => {
  let byRoute = spanNames.get(method)
  if (byRoute === undefined) spanNames.set(method, byRoute = new Map())
  let name = byRoute.get(route)
  if (name === undefined) {
    name = spanName(method, route)
    if (byRoute.size < 4096) byRoute.set(route, name)
  }
  return name
}

const noExtracted: Extracted = { parent: undefined, baggage: new Map(), issues: [] }

/** The effect serving one request. */
export const serveRequest = <E, R>(
  config: ServerConfig,
  handler: AnyHandler<E, R>,
  request: globalThis.Request,
  info: ServeInfoLike | undefined,
): Effect.Effect<Response, unknown, R> =>
  Effect.withFiber((fiber) => {
    const recorder = fiber.getRef(CurrentRecorder)
    if (!recorder.enabled) {
      // Kill switch: the handler runs as it is, nothing is recorded.
      return callHandler(handler, request, info, contextFor<R>(fiber.context, "", "", ""))
    }
    const clock = fiber.getRef(Clock.Clock)
    // Times as numbers on the clock's timeline: no BigInt per read.
    const timeline = timelineOf(clock)
    const start = now(clock, timeline)
    const method = normalizeMethod(request.method)
    const url = requestUrlParts(request.url)
    const given = safeCall(config.route, request)
    let route = typeof given === "string" && given.length > 0 ? given : undefined
    let metricRoute = route ?? NO_ROUTE
    if (route !== undefined && !config.routes.has(route)) {
      if (config.routes.size < config.maxRoutes) {
        config.routes.add(route)
      } else {
        recorder.countDrop("http_route_overflow")
        metricRoute = OVERFLOW_ROUTE
        route = undefined
      }
    }
    const name = safeCall(config.name, request) ?? cachedSpanName(method, route)

    const attributes: Record<string, unknown> = { "http.request.method": method }
    if (method === "_OTHER") attributes["http.request.method_original"] = request.method
    if (url !== undefined) {
      attributes["url.path"] = url.path
      attributes["url.scheme"] = url.scheme
      attributes["server.address"] = url.host
      if (url.port !== undefined) attributes["server.port"] = url.port
    }
    if (route !== undefined) attributes["http.route"] = route
    const userAgent = request.headers.get("user-agent")
    if (userAgent !== null) attributes["user_agent.original"] = userAgent
    const remote = info?.remoteAddr
    if (remote !== undefined && remote.transport !== "unix" && typeof remote.hostname === "string") {
      attributes["client.address"] = remote.hostname
    }
    const extra = safeCall(config.attributes, request)
    if (extra !== undefined) Object.assign(attributes, extra)

    let requestId: string | undefined
    if (config.requestIdHeader !== undefined) {
      let header: string | null
      try {
        header = request.headers.get(config.requestIdHeader)
      } catch {
        // A `requestIdHeader` that is not a header name: no request id can be read, counted, not thrown.
        header = ""
      }
      if (header !== null) {
        if (REQUEST_ID.test(header)) requestId = header
        else recorder.countDrop("invalid_request_id")
      }
    }

    let extracted: Extracted = noExtracted
    if (config.extract) {
      const parsed = parseHeaders(request.headers)
      if (parsed.counts.length > 0) countIssues(recorder, parsed.counts)
      extracted = parsed
    }

    const handled = Effect.withFiber((inner) => {
      const span = inner.cache.span
      const record = currentRequest(inner)
      const context = contextFor<R>(
        inner.context,
        record?.requestId ?? requestId ?? "",
        span?.traceId ?? "",
        span?.spanId ?? "",
      )
      return Effect.flatMap(
        callHandler(handler, request, info, context),
        (response) => {
          // What Request.annotate does, without an effect per request.
          if (record !== undefined) {
            if (Object.isFrozen(record.attributes)) record.attributes = { ...record.attributes }
            record.attributes["http.response.status_code"] = response.status
            record.span.attribute("http.response.status_code", response.status)
          }
          return response.status >= 500 ? Effect.fail(new StatusFailure(response)) : Effect.succeed(response)
        },
      )
    })
    const tracked = trackRequest(
      handled,
      makeServerRequestSpec(name, {
        parent: extracted.parent,
        kind: "server",
        requestId,
        attributes,
        budget: config.budget,
      }),
    )
    const recovered = Effect.catchIf(tracked, isStatusFailure, servedResponse)
    const measured = config.metrics
      ? Effect.onExitPrimitive(recovered, (exit) => {
        const seconds = (now(clock, timeline) - start) / 1e9
        recordServerRequest(fiber.context, method, metricRoute, statusOf(exit), seconds)
        return undefined
      })
      : recovered
    return withRemoteContext(measured, extracted.parent, extracted.baggage)
  })

/** How a web handler starts the per-request effect: on a new fiber, run as far as it goes synchronously. */
export type Forker<R> = (effect: Effect.Effect<Response, unknown, R>) => Fiber.Fiber<Response, unknown>

/** The response for a request effect's exit; a failure is rethrown for the server's `onError`. */
const responseOf = (exit: Exit.Exit<Response, unknown>): Response => {
  if (exit._tag === "Success") return exit.value
  // The client went away: nobody reads this response.
  if (Cause.hasInterruptsOnly(exit.cause)) return new Response(null, { status: 499 })
  throw Cause.squash(exit.cause)
}

const settled = (exit: Exit.Exit<Response, unknown>): Promise<Response> => {
  try {
    return Promise.resolve(responseOf(exit))
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * Interrupts `fiber` when the client disconnects. Read only for a request still running after its
 * synchronous part: Deno creates the request's `AbortSignal` (and, without `--unstable-no-legacy-abort`,
 * aborts it after every response, an exception object with a stack trace each time) only once it is read.
 */
const interruptOnAbortOf = (fiber: Fiber.Fiber<Response, unknown>, request: globalThis.Request): void => {
  const signal = request.signal
  if (signal.aborted) return fiber.interruptUnsafe()
  const onAbort = () => fiber.interruptUnsafe()
  signal.addEventListener("abort", onAbort, { once: true })
  fiber.addObserver(() => signal.removeEventListener("abort", onAbort))
}

/**
 * Builds the web handler: starts the request effect on a fiber and answers its response (a request that
 * completes synchronously never waits on a promise of its own), rethrowing a failure for the server's
 * `onError`.
 */
export const makeWebHandler = <E, R>(
  config: ServerConfig,
  handler: AnyHandler<E, R>,
  fork: Forker<R>,
  interruptOnAbort: boolean,
): (request: globalThis.Request, info?: ServeInfoLike) => Promise<Response> =>
(request, info) => {
  const fiber = fork(serveRequest(config, handler, request, info))
  const exit = fiber.pollUnsafe()
  if (exit !== undefined) return settled(exit)
  if (interruptOnAbort) interruptOnAbortOf(fiber, request)
  return new Promise((resolve, reject) => {
    fiber.addObserver((exit) => {
      try {
        resolve(responseOf(exit))
      } catch (error) {
        reject(error)
      }
    })
  })
}
