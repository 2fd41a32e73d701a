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
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { CurrentRecorder, type RequestRecord } from "../../internal/recorder.ts"
import { now, type Timeline, timelineOf } from "../../internal/clock.ts"
import {
  definePrimitive,
  failureKey,
  type Frame,
  FrameBase,
  framesSupported,
  pushFrame,
  runWithFrame,
  successKey,
} from "../../internal/frame.ts"
import { currentRequest, makeServerRequestSpec, trackRequest } from "../../stage/internal/tracking.ts"
import type { Baggage, RemoteContext } from "./propagationModel.ts"
import { emptyBaggage, withRemoteContext } from "./context.ts"
import { countIssues, parseHeaders } from "./extract.ts"
import { NO_ROUTE, OVERFLOW_ROUTE, recordServerRequest } from "./metrics.ts"
import { normalizeMethod, requestUrlParts, spanName, type UrlParts } from "./semconv.ts"

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

/**
 * What the handler gave: an effect (its own, the failure of a throw, or a promise's outcome), or the value
 * it returned as it is (no effect made for a plain response).
 */
const handlerOutcome = <E, R>(
  handler: AnyHandler<E, R>,
  request: globalThis.Request,
  info: ServeInfoLike | undefined,
  context: HandlerContextShape<R>,
): unknown => {
  let out: Response | PromiseLike<Response> | Effect.Effect<Response, E, R>
  try {
    out = handler(request, info, context)
  } catch (error) {
    return Effect.fail(error)
  }
  if (Effect.isEffect(out) || !isPromiseLike(out)) return out
  const promise = out
  return Effect.tryPromise({ try: () => promise, catch: (error) => error })
}

/** `handlerOutcome`'s result as an effect. */
const outcomeEffect = <R>(outcome: unknown): Effect.Effect<unknown, unknown, R> =>
  Effect.isEffect(outcome) ? outcome as Effect.Effect<unknown, unknown, R> : Effect.succeed(outcome)

/** Calls the handler, whatever it returns, as an effect. A throw or rejection is a failure. */
const callHandler = <E, R>(
  handler: AnyHandler<E, R>,
  request: globalThis.Request,
  info: ServeInfoLike | undefined,
  context: HandlerContextShape<R>,
): Effect.Effect<Response, unknown, R> =>
  Effect.flatMap(outcomeEffect<R>(handlerOutcome(handler, request, info, context)), checked)

/**
 * The handler's third argument. `run` is made on first read (most handlers never read it): a getter, so
 * that `const { run } = context` works as with a plain property.
 */
class HandlerContext<R> implements HandlerContextShape<R> {
  readonly #context: Context.Context<never>
  #run: (<A, E>(effect: Effect.Effect<A, E, R>) => Promise<A>) | undefined = undefined
  constructor(
    context: Context.Context<never>,
    readonly requestId: string,
    readonly traceId: string,
    readonly spanId: string,
  ) {
    this.#context = context
  }

  get run(): <A, E>(effect: Effect.Effect<A, E, R>) => Promise<A> {
    return this.#run ??= Effect.runPromiseWith(this.#context as Context.Context<R>)
  }
}
// `for…in` lists it with the ids, as it did the plain object this class replaces.
Object.defineProperty(HandlerContext.prototype, "run", { enumerable: true })

/** The `StatusFailure` a request failed with (its first typed failure), if it is one. */
const statusFailureOf = (exit: Exit.Exit<unknown, unknown>): StatusFailure | undefined => {
  if (exit._tag === "Success") return undefined
  const reasons = exit.cause.reasons
  for (let i = 0; i < reasons.length; i++) {
    const reason = reasons[i]!
    if (reason._tag === "Fail") return reason.error instanceof StatusFailure ? reason.error : undefined
  }
  return undefined
}

/** The status a finished request reports in metrics (a 5xx recorded as failed reports its own). */
const statusOf = (exit: Exit.Exit<Response, unknown>): number => {
  if (exit._tag === "Success") return exit.value.status
  const failure = statusFailureOf(exit)
  if (failure !== undefined) return failure.response.status
  return Cause.hasInterruptsOnly(exit.cause) ? 499 : 500
}

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

/**
 * The server span's first attributes, in their order. The usual request (known method, http(s) URL) gets
 * them from one object literal: its fields in the object itself, instead of a property array grown as
 * they are added one by one.
 */
const baseAttributes = (
  method: string,
  request: globalThis.Request,
  url: UrlParts | undefined,
): Record<string, unknown> => {
  if (method !== "_OTHER" && url !== undefined && url.port !== undefined) {
    return {
      "http.request.method": method,
      "url.path": url.path,
      "url.scheme": url.scheme,
      "server.address": url.host,
      "server.port": url.port,
    }
  }
  const attributes: Record<string, unknown> = { "http.request.method": method }
  if (method === "_OTHER") attributes["http.request.method_original"] = request.method
  if (url !== undefined) {
    attributes["url.path"] = url.path
    attributes["url.scheme"] = url.scheme
    attributes["server.address"] = url.host
    if (url.port !== undefined) attributes["server.port"] = url.port
  }
  return attributes
}

/**
 * The frame under a request's `Request.track`: records the HTTP metrics when the request ends, and
 * serves the response of a 5xx that the request recorded as failed (what `Effect.catchIf` +
 * `Effect.onExit` did, as one frame).
 */
class ServerFrame extends FrameBase {
  constructor(
    readonly metrics: boolean,
    readonly clock: Clock.Clock,
    readonly timeline: Timeline,
    readonly start: number,
    readonly method: string,
    readonly route: string,
  ) {
    super()
  }

  exited(fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): void {
    if (!this.metrics) return
    const seconds = (now(this.clock, this.timeline) - this.start) / 1e9
    recordServerRequest(
      fiber.context,
      this.method,
      this.route,
      statusOf(exit as Exit.Exit<Response, unknown>),
      seconds,
    )
  }

  override [failureKey](
    cause: Cause.Cause<unknown>,
    fiber: Fiber.Fiber<unknown, unknown>,
    exit?: Exit.Exit<unknown, unknown>,
  ): Exit.Exit<unknown, unknown> {
    const done = super[failureKey](cause, fiber, exit)
    const failure = statusFailureOf(done)
    return failure === undefined ? done : Exit.succeed(failure.response)
  }
}

/**
 * One request through the middleware, as one object: the effect the request's fiber runs first (it reads
 * the request and opens the `Request.track` around itself), then, inside the request, the step that calls
 * the handler, and the continuation that receives the handler's response. Run without Effect's
 * combinators (no closures, no `Effect.withFiber`, `flatMap` or `catchIf` per request) when frames are
 * supported (`src/internal/frame.ts`); through them otherwise (`frames: false`).
 */
class ServeEffect<E, R> {
  /** Set once the request is open: the next step calls the handler. */
  opened = false
  requestId: string | undefined = undefined
  record: RequestRecord | undefined = undefined

  constructor(
    readonly config: ServerConfig,
    readonly handler: AnyHandler<E, R>,
    readonly request: globalThis.Request,
    readonly info: ServeInfoLike | undefined,
    readonly frames: boolean,
  ) {}

  step(fiber: Fiber.Fiber<unknown, unknown>): unknown {
    if (!this.opened) return this.open(fiber)
    // Inside the request: the handler, with this object as the continuation of its result.
    const outcome = this.callHandler(fiber)
    // A plain response needs no continuation.
    if (!Effect.isEffect(outcome)) return this.respond(outcome)
    // A continuation, not a `Frame`: like `Effect.flatMap`'s, a failure passes it by.
    pushFrame(fiber, this as unknown as Frame)
    return outcome
  }

  /** The continuation of the handler's result (`successKey`, set below). */
  respond(value: unknown): unknown {
    if (!(value instanceof ResponseClass)) {
      return Effect.fail(new TypeError("The HTTP handler did not return a Response"))
    }
    const record = this.record
    if (record !== undefined) {
      // What Request.annotate does, without an effect per request.
      if (Object.isFrozen(record.attributes)) record.attributes = { ...record.attributes }
      record.attributes["http.response.status_code"] = value.status
      record.span.attribute("http.response.status_code", value.status)
    }
    return value.status >= 500 ? Effect.fail(new StatusFailure(value)) : Effect.succeed(value)
  }

  callHandler(fiber: Fiber.Fiber<unknown, unknown>): unknown {
    const span = fiber.cache.span
    const record = currentRequest(fiber)
    this.record = record
    const context = new HandlerContext<R>(
      fiber.context,
      record?.requestId ?? this.requestId ?? "",
      span?.traceId ?? "",
      span?.spanId ?? "",
    )
    return handlerOutcome(this.handler, this.request, this.info, context)
  }

  open(fiber: Fiber.Fiber<unknown, unknown>): unknown {
    const { config, handler, request, info } = this
    const recorder = fiber.getRef(CurrentRecorder)
    if (!recorder.enabled) {
      // Kill switch: the handler runs as it is, nothing is recorded.
      return callHandler(handler, request, info, new HandlerContext<R>(fiber.context, "", "", ""))
    }
    this.opened = true
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

    const attributes = baseAttributes(method, request, url)
    if (route !== undefined) attributes["http.route"] = route
    const headers = request.headers
    const userAgent = headers.get("user-agent")
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
        header = headers.get(config.requestIdHeader)
      } catch {
        // A `requestIdHeader` that is not a header name: no request id can be read, counted, not thrown.
        header = ""
      }
      if (header !== null) {
        if (REQUEST_ID.test(header)) requestId = header
        else recorder.countDrop("invalid_request_id")
      }
    }
    this.requestId = requestId

    let parent: RemoteContext | undefined
    let baggage: Baggage = emptyBaggage
    if (config.extract) {
      const parsed = parseHeaders(headers)
      if (parsed.counts.length > 0) countIssues(recorder, parsed.counts)
      parent = parsed.parent
      baggage = parsed.baggage
    }

    const frame = new ServerFrame(config.metrics, clock, timeline, start, method, metricRoute)
    const inner = this.frames ? this as unknown as Effect.Effect<Response, unknown, R> : Effect.flatMap(
      Effect.withFiber((fiber) => outcomeEffect<R>(this.callHandler(fiber))),
      (value) => this.respond(value) as Effect.Effect<Response, unknown>,
    )
    const tracked = withRemoteContext(
      trackRequest(
        inner,
        makeServerRequestSpec(name, { parent, kind: "server", requestId, attributes, budget: config.budget }),
      ),
      parent,
      baggage,
    )
    if (this.frames) {
      pushFrame(fiber, frame)
      return tracked
    }
    return Effect.catchIf(runWithFrame(fiber, frame, () => tracked), isStatusFailure, servedResponse)
  }
}
definePrimitive(ServeEffect)
Object.defineProperty(ServeEffect.prototype, successKey, {
  value: function (this: ServeEffect<unknown, unknown>, value: unknown) {
    return this.respond(value)
  },
})

/**
 * The effect serving one request. `frames: false` runs it through Effect's combinators (what happens when
 * the installed Effect does not follow the protocol of `src/internal/frame.ts`).
 */
export const serveRequest = <E, R>(
  config: ServerConfig,
  handler: AnyHandler<E, R>,
  request: globalThis.Request,
  info: ServeInfoLike | undefined,
  frames: boolean = framesSupported,
): Effect.Effect<Response, unknown, R> => {
  const serve = new ServeEffect(config, handler, request, info, frames)
  return frames
    ? serve as unknown as Effect.Effect<Response, unknown, R>
    : Effect.withFiber((fiber) => serve.step(fiber) as Effect.Effect<Response, unknown, R>)
}

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
