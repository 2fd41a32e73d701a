/**
 * Server requests of an `HttpRouter` app, opened by stagetrace itself rather than adopted from Effect's
 * server span.
 *
 * With Effect's native tracer, `HttpEffect` serves a request on a fast path that opens no server span at
 * all; with any other tracer it runs `HttpMiddleware.tracer` (span, URL parsing, response attributes),
 * which costs about as much as the router itself. When the telemetry layer is built with an `HttpRouter`
 * in context, `instrument.httpServer` therefore (1) adds a `HttpMiddleware.TracerDisabledWhen` predicate
 * that says "disabled" for the requests it serves (and otherwise asks the user's own predicate), so that
 * Effect takes its fast path, and (2) registers a global router middleware that opens the request itself:
 * one server span (created on the tracers below the adopting one, with the OpenTelemetry HTTP server
 * attributes), a request record (`openRequest` / `closeRequest`, as `Request.track`), the HTTP metrics.
 *
 * The span is opened lazily: the router names the route (`http.route`) on the current parent span right
 * after matching, before the handler runs, so the span, the request's name and the head sampler all see
 * `GET /chat/:id`. Anything that needs the span earlier (a span created by a global middleware inside this
 * one, a trace id read for a log) opens it then, named after the method alone.
 *
 * A request is left alone (no span, no record, as Effect would) when tracing is disabled, when the user's
 * `TracerDisabledWhen` says so, and when it already runs inside a request (for instance an Effect server
 * span adopted because the user's predicate replaced ours in the app's context).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { constFalse } from "effect/Function"
import * as Tracer from "effect/Tracer"
import type * as Http from "effect/http"
import { disabledByEnvironment } from "../../internal/killSwitch.ts"
import {
  CurrentRecorder,
  OwnerKey,
  ownerOf,
  type Recorder,
  requestOf,
  type RequestRecord,
  requestSpanAnnotations,
} from "../../internal/recorder.ts"
import { CurrentBaggage, CurrentRemoteTrace } from "../../http/internal/context.ts"
import { countIssues, parseHeaders } from "../../http/internal/extract.ts"
import { NO_ROUTE, recordServerRequest } from "../../http/internal/metrics.ts"
import type { Baggage, RemoteContext } from "../../http/internal/propagationModel.ts"
import { REQUEST_ID } from "../../http/internal/server.ts"
import { normalizeMethod, spanName } from "../../http/internal/semconv.ts"
import {
  closeRequest,
  generateRequestId,
  makeSpan,
  openRequest,
  resolve,
  type Resolved,
} from "../../stage/internal/tracking.ts"
import type { HttpServerConfig } from "./options.ts"
import { secondsBetween } from "./metrics.ts"
import { ForwardingSpan } from "../../internal/forwardingSpan.ts"

type HttpModule = typeof Http
type ServerRequest = Http.HttpServerRequest.HttpServerRequest
type ServerResponse = Http.HttpServerResponse.HttpServerResponse
type Predicate = (request: ServerRequest) => boolean
type App = Effect.Effect<ServerResponse, unknown, never>

// Effect's references and services, by key: `effect/http` is loaded only by programs that use it.
/** `HttpMiddleware.TracerDisabledWhen` (same key and default as Effect's). */
export const TracerDisabledWhen: Context.Reference<Predicate> = Context.Reference<Predicate>(
  "effect/http/HttpMiddleware/TracerDisabledWhen",
  { defaultValue: () => constFalse },
)
const ServerRequestKey = Context.Service<ServerRequest>("effect/http/HttpServerRequest")
// Raw lookups (no default): set only when the user provided one.
const SpanNameGenerator = Context.Service<(request: ServerRequest) => string>(
  "@effect/platform/HttpMiddleware/SpanNameGenerator",
)
const TracerHeaderFilter = Context.Service<(name: string, phase: "request" | "response") => boolean>(
  "effect/http/HttpMiddleware/TracerHeaderFilter",
)
/** What `HttpRouter` records for routes with `redactedParams` (`HttpEffect`'s request state). */
interface RequestState {
  readonly redactedPath?: { readonly text: string; readonly kinds: string } | undefined
  readonly redactedHeaderNames?: ReadonlyArray<string | RegExp> | undefined
}
const CurrentRequestState = Context.Service<RequestState>("effect/http/HttpEffect/CurrentRequestState")

/**
 * The `TracerDisabledWhen` predicate that `instrument.httpServer` adds to the telemetry layer's output: once
 * a router middleware serves the requests (`owned`), Effect's server span is disabled for all of them and
 * the middleware asks the user's predicate (the one in force where the layer was built) itself.
 */
export class ServerState {
  owned = false
  readonly user: Predicate
  readonly disabledWhen: Predicate

  constructor(user: Predicate) {
    this.user = user
    this.disabledWhen = (request) => this.owned || user(request)
  }
}

/** The request `span` belongs to, if it is still running. */
export const openRequestOf = (span: Tracer.AnySpan | undefined): RequestRecord | undefined => {
  if (span === undefined || span._tag !== "Span") return undefined
  const request = requestOf(ownerOf(span))
  return request === undefined || request.closed ? undefined : request
}

/** The request id the request brings in `config.requestIdHeader`; one that is not valid is counted. */
export const requestIdOf = (
  recorder: Recorder,
  config: HttpServerConfig,
  headers: Http.Headers.Headers,
): string | undefined => {
  if (config.requestIdHeader === undefined) return undefined
  const header = headers[config.requestIdHeader]
  if (header === undefined) return undefined
  if (REQUEST_ID.test(header)) return header
  recorder.countDrop("invalid_request_id")
  return undefined
}

/** The user's predicate in force for `fiber` (ours stands for the one it wraps). */
const userPredicate = (state: ServerState, fiber: Fiber.Fiber<unknown, unknown>): Predicate => {
  const predicate = fiber.getRef(TracerDisabledWhen)
  return predicate === state.disabledWhen ? state.user : predicate
}

/** `path` without its query and fragment. */
const pathOf = (url: string): string => {
  let end = url.length
  for (let i = 0; i < end; i++) {
    const code = url.charCodeAt(i)
    if (code === 0x3f || code === 0x23) end = i
  }
  return end === url.length ? url : url.slice(0, end)
}

/** `server.address` and `server.port` of a `host` header (`[::1]:8000`, `api.local`). */
const addHost = (attributes: Record<string, unknown>, host: string, scheme: string): void => {
  let address = host
  let port: number | undefined
  const close = host.charCodeAt(0) === 0x5b ? host.indexOf("]") : -1
  const colon = host.lastIndexOf(":")
  if (close > 0) {
    address = host.slice(1, close)
    if (colon > close) port = Number(host.slice(colon + 1))
  } else if (colon >= 0) {
    address = host.slice(0, colon)
    port = Number(host.slice(colon + 1))
  }
  if (address.length === 0) return
  attributes["server.address"] = address.toLowerCase()
  if (port === undefined) port = scheme === "https" ? 443 : 80
  if (Number.isInteger(port)) attributes["server.port"] = port
}

/** The `host[:port]` of an absolute URL (a web request's), without user info. */
const authorityOf = (url: string): string | undefined => {
  const start = url.indexOf("://")
  if (start < 0) return undefined
  let end = url.length
  for (let i = start + 3; i < end; i++) {
    const code = url.charCodeAt(i)
    if (code === 0x2f || code === 0x3f || code === 0x23) end = i
  }
  const at = url.lastIndexOf("@", end - 1)
  return url.slice(at > start ? at + 1 : start + 3, end)
}

/** `RedactedPath.format` of `effect/http`: each run of redacted characters becomes `REDACTED`. */
const formatRedacted = (path: { readonly text: string; readonly kinds: string }): string => {
  let out = ""
  let last = 0
  for (const run of path.kinds.matchAll(/r+/g)) {
    out += path.text.slice(last, run.index) + "REDACTED"
    last = run.index + run[0].length
  }
  return out + path.text.slice(last)
}

/** What every request of one router shares. */
interface Server {
  readonly http: HttpModule
  readonly recorder: Recorder
  readonly config: HttpServerConfig
}

/**
 * The parent span of a served request's handler: it opens the real server span (and the request record)
 * when the router names the route, or when anything needs the span before that.
 */
export class ServedRequestSpan extends ForwardingSpan {
  /** The route template, as the router set it (`http.route`). */
  route: string | undefined = undefined
  record: RequestRecord | undefined = undefined
  private real: Tracer.Span | undefined = undefined

  constructor(
    readonly server: Server,
    readonly env: Resolved,
    /** The request fiber's context when the request started (metrics registry, Effect's settings). */
    readonly context: Context.Context<never>,
    readonly request: ServerRequest,
    readonly method: string,
    readonly requestId: string | undefined,
    readonly parentSpan: Tracer.AnySpan | undefined,
    readonly parentTraceState: string | undefined,
    readonly startNanos: bigint,
    /** The user's `TracerHeaderFilter`, if one is provided. */
    readonly headerFilter: ((name: string, phase: "request" | "response") => boolean) | undefined,
  ) {
    super()
  }

  /** The real span, opened now if it was not yet. */
  get inner(): Tracer.Span {
    return this.real ?? this.open()
  }

  private open(): Tracer.Span {
    const { request, method, env } = this
    const name = spanName(method, this.route)
    const generator = Context.getOrUndefined(this.context, SpanNameGenerator)
    let span: Tracer.Span
    try {
      span = makeSpan(
        env,
        generator === undefined ? name : generator(request),
        "server",
        this.parentSpan,
        this.startNanos,
        requestSpanAnnotations,
      )
    } catch {
      this.server.recorder.countDrop("instrument_span_name_failed")
      span = makeSpan(env, name, "server", this.parentSpan, this.startNanos, requestSpanAnnotations)
    }
    this.real = span
    try {
      this.record = this.openRecord(span, name)
    } catch {
      // Telemetry never breaks the program: the span stays, this request is not recorded.
      this.server.recorder.countDrop("instrument_open_failed")
    }
    return span
  }

  private openRecord(span: Tracer.Span, name: string): RequestRecord {
    const { request, method } = this
    const headers = request.headers
    const attributes: Record<string, unknown> = { "http.request.method": method }
    if (method === "_OTHER") attributes["http.request.method_original"] = request.method
    attributes["url.path"] = pathOf(request.url)
    const protocol = request.protocol
    const url = protocol === undefined ? request.originalUrl : undefined
    const scheme = protocol ?? (url!.startsWith("https:") ? "https" : "http")
    attributes["url.scheme"] = scheme
    const host = headers["host"] ?? authorityOf(url ?? request.originalUrl)
    if (host !== undefined) addHost(attributes, host, scheme)
    if (this.route !== undefined) attributes["http.route"] = this.route
    const userAgent = headers["user-agent"]
    if (userAgent !== undefined) attributes["user_agent.original"] = userAgent
    const remote = request.remoteAddress
    if (remote._tag === "Some") attributes["client.address"] = remote.value
    for (const key in attributes) span.attribute(key, attributes[key])
    const record = openRequest(
      this.server.recorder,
      span,
      name,
      this.requestId ?? generateRequestId(),
      this.parentSpan,
      this.parentTraceState,
      this.startNanos,
      attributes,
      false,
      undefined,
    )
    if (this.headerFilter !== undefined) this.headerAttributes(this.headerFilter, "request", headers)
    return record
  }

  /** `http.{phase}.header.*` for the headers the user's `TracerHeaderFilter` selects, as Effect records them. */
  private headerAttributes(
    filter: (name: string, phase: "request" | "response") => boolean,
    phase: "request" | "response",
    headers: Http.Headers.Headers,
  ): void {
    const context = this.context
    const http = this.server.http
    let redacted = Context.get(context, http.Headers.CurrentRedactedNames)
    const more = Context.getOrUndefined(context, CurrentRequestState)?.redactedHeaderNames
    if (more !== undefined && more.length > 0) redacted = [...redacted, ...more]
    const span = this.real!
    try {
      for (const name in headers) {
        if (!filter(name, phase)) continue
        span.attribute(
          `http.${phase}.header.${name}`,
          http.Headers.isRedactedName(name, redacted) ? "<redacted>" : headers[name],
        )
      }
    } catch {
      this.server.recorder.countDrop("instrument_header_filter_failed")
    }
  }

  /** Ends the request with the response the client gets and, if the handler failed, its exit. */
  finish(response: ServerResponse, exit: Exit.Exit<unknown, unknown>, endNanos: bigint): void {
    const span = this.inner
    let spanExit: Exit.Exit<unknown, unknown> = exit
    const record = this.record
    if (record !== undefined) {
      try {
        spanExit = this.close(record, span, response, exit, endNanos)
      } catch {
        // Telemetry never breaks the program: a hostile value or hook failure only loses this record.
        this.server.recorder.countDrop("instrument_close_failed")
      }
    }
    span.end(this.env.timingEnabled ? endNanos : BigInt(0), spanExit)
  }

  /** Closes the request record; returns the exit the span ends with. */
  private close(
    record: RequestRecord,
    span: Tracer.Span,
    response: ServerResponse,
    exit: Exit.Exit<unknown, unknown>,
    endNanos: bigint,
  ): Exit.Exit<unknown, unknown> {
    const status = response.status
    let spanExit: Exit.Exit<unknown, unknown>
    // As `HttpMiddleware.tracer`: OpenTelemetry fails a server span on 5xx only (and on interruption).
    if (exit._tag === "Failure" && (status >= 500 || Cause.hasInterrupts(exit.cause))) spanExit = exit
    else if (status >= 500 && status < 600) spanExit = Exit.fail(this.serverError(response))
    else spanExit = exit._tag === "Success" ? exit : Exit.succeed(response)
    const route = this.route
    record.name = spanName(this.method, route)
    const attributes = record.attributes
    if (route !== undefined) attributes["http.route"] = route
    attributes["http.response.status_code"] = status
    span.attribute("http.response.status_code", status)
    const redactedPath = Context.getOrUndefined(this.context, CurrentRequestState)?.redactedPath
    if (redactedPath !== undefined) {
      const path = formatRedacted(redactedPath)
      attributes["url.path"] = path
      span.attribute("url.path", path)
    }
    if (this.headerFilter !== undefined) {
      this.headerAttributes(this.headerFilter, "response", response.headers)
    }
    const recorder = this.server.recorder
    closeRequest(recorder, record, spanExit, endNanos)
    if (this.server.config.metrics) {
      recordServerRequest(
        this.context,
        this.method,
        route ?? NO_ROUTE,
        status,
        secondsBetween(record.startNanos, endNanos),
      )
    }
    return spanExit
  }

  /** The failure Effect gives a 5xx response (`HttpServerError` with a `ResponseError`). */
  private serverError(response: ServerResponse): unknown {
    const http = this.server.http
    const request = this.request
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      return new http.HttpServerError.HttpServerError({
        // The path only: the query may hold what the user redacts.
        reason: new http.HttpServerError.ResponseError({
          request: request.modify({ url: pathOf(request.url) }),
          response,
        }),
      })
    } finally {
      Error.stackTraceLimit = limit
    }
  }

  get [OwnerKey](): RequestRecord | undefined {
    if (this.real === undefined) this.open()
    return this.record
  }
  set [OwnerKey](_: unknown) {
    // The record is attached to the real span; this proxy only reports it.
  }

  /**
   * Always `true`, so that `HttpRouter` names the route on this span whatever the head decision; the spans
   * created under it get the real decision (`AdoptingTracer`).
   */
  override get sampled(): boolean {
    return true
  }
  override get kind(): Tracer.SpanKind {
    return "server"
  }

  override attribute(key: string, value: unknown): void {
    if (key === "http.route" && typeof value === "string") {
      this.route = value
      if (this.real === undefined) {
        this.open()
        return
      }
    }
    this.inner.attribute(key, value)
  }
  end(): void {
    // Ended by the middleware that opened it (`finish`).
  }
}

let internalErrorResponse: ServerResponse | undefined

/** An empty 500 response (what Effect answers when a failure's own response cannot be built). */
const internalError = (http: HttpModule): ServerResponse =>
  internalErrorResponse ??= http.HttpServerResponse.empty({ status: 500 })

/** The remote trace context of a request: W3C (ours), else B3 (Effect's). */
interface Remote {
  readonly parent: Tracer.AnySpan | undefined
  readonly traceState: string | undefined
  readonly context: RemoteContext | undefined
  readonly baggage: Baggage | undefined
}

const noRemote: Remote = { parent: undefined, traceState: undefined, context: undefined, baggage: undefined }

const remoteOf = (http: HttpModule, recorder: Recorder, headers: Http.Headers.Headers): Remote => {
  if (headers["traceparent"] !== undefined || headers["baggage"] !== undefined) {
    const parsed = parseHeaders(headers)
    if (parsed.counts.length > 0) countIssues(recorder, parsed.counts)
    const context = parsed.parent
    return {
      parent: context === undefined
        ? undefined
        : Tracer.externalSpan({ traceId: context.traceId, spanId: context.spanId, sampled: context.sampled }),
      traceState: context?.traceState,
      context,
      baggage: parsed.baggage.size > 0 ? parsed.baggage : undefined,
    }
  }
  if (headers["b3"] !== undefined || headers["x-b3-traceid"] !== undefined) {
    const parent = http.HttpTraceContext.fromHeaders(headers)
    if (parent._tag === "Some") return { ...noRemote, parent: parent.value }
  }
  return noRemote
}

/**
 * The global router middleware serving requests as stagetrace requests. `telemetry` is provided to
 * requests that do not see it (`Layer.provide` of the telemetry layer).
 */
export const serverMiddleware = (
  http: HttpModule,
  recorder: Recorder,
  config: HttpServerConfig,
  state: ServerState,
  telemetry: Context.Context<never>,
) =>
(app: App): App => {
  const server: Server = { http, recorder, config }
  const serve = (fiber: Fiber.Fiber<unknown, unknown>, request: ServerRequest): App => {
    try {
      return serveUnsafe(fiber, request)
    } catch {
      // Telemetry never breaks the program: a request whose headers cannot be read is served untracked.
      recorder.countDrop("instrument_request_failed")
      return app
    }
  }
  const serveUnsafe = (fiber: Fiber.Fiber<unknown, unknown>, request: ServerRequest): App => {
    if (!fiber.cache.tracerEnabled) return app
    const parentSpan = fiber.cache.span
    // Effect's own server span was adopted (the user's predicate replaced ours), or a request encloses it.
    if (openRequestOf(parentSpan) !== undefined) return app
    const env = resolve(fiber)
    const startNanos = env.clock.currentTimeNanosUnsafe()
    const headers = request.headers
    const requestId = requestIdOf(recorder, config, headers)
    const remote = remoteOf(http, recorder, headers)
    const span = new ServedRequestSpan(
      server,
      env,
      fiber.context,
      request,
      normalizeMethod(request.method),
      requestId,
      remote.parent ?? parentSpan,
      remote.traceState,
      startNanos,
      Context.getOrUndefined(fiber.context, TracerHeaderFilter),
    )
    const clock = env.clock
    // What `Effect.provideService` does, without a second effect per request; the remote trace and
    // baggage as `Propagation.withRemote` provides them.
    const previous = fiber.context
    let context = Context.add(previous, Tracer.ParentSpan, span)
    const remoteContext = remote.context
    if (remoteContext !== undefined) {
      context = Context.add(context, CurrentRemoteTrace, {
        traceId: remoteContext.traceId,
        randomTraceId: remoteContext.randomTraceId,
        traceState: remoteContext.traceState,
      })
    }
    if (remote.baggage !== undefined) context = Context.add(context, CurrentBaggage, remote.baggage)
    fiber.setContext(context)
    return Effect.onExitPrimitive(app, (exit) => {
      fiber.setContext(previous)
      const endNanos = clock.currentTimeNanosUnsafe()
      if (exit._tag === "Success") {
        span.finish(exit.value, exit, endNanos)
        return undefined
      }
      // The response Effect sends for this failure (404 for no route, a `Respondable` error's own…).
      return Effect.map(Effect.exit(http.HttpServerError.causeResponse(exit.cause)), (responded) => {
        span.finish(responded._tag === "Success" ? responded.value[0] : internalError(http), exit, endNanos)
      })
    })
  }

  const disabled = (fiber: Fiber.Fiber<unknown, unknown>, request: ServerRequest): boolean => {
    const predicate = userPredicate(state, fiber)
    if (predicate === constFalse) return false
    try {
      return predicate(request)
    } catch {
      recorder.countDrop("instrument_tracer_disabled_when_failed")
      return false
    }
  }

  // The telemetry services (not the memo map of the layer's build), added with one copy of the request's
  // context; a span opened by another tracer (Effect's, where the request does not see ours) is dropped:
  // it is not the request's parent.
  const services = [...telemetry.mapUnsafe].filter(([key]) => key !== "effect/Layer/CurrentMemoMap")
  const provide = (omitParent: boolean) => (context: Context.Context<never>): Context.Context<never> => {
    const map = new Map(context.mapUnsafe)
    for (let i = 0; i < services.length; i++) map.set(services[i]![0], services[i]![1])
    if (omitParent) map.delete(Tracer.ParentSpan.key)
    return Context.makeUnsafe(map)
  }
  const withTelemetry = provide(true)
  const withServices = provide(false)
  const provided = Effect.withFiber((fiber) =>
    serve(fiber, Context.getUnsafe(fiber.context, ServerRequestKey) as ServerRequest)
  )

  return Effect.withFiber((fiber) => {
    const request = Context.getOrUndefined(fiber.context, ServerRequestKey)
    const ours = fiber.getRef(CurrentRecorder) === recorder
    if (request === undefined || disabledByEnvironment || !recorder.enabled || disabled(fiber, request)) {
      return ours ? app : Effect.updateContext(app, withServices)
    }
    return ours ? serve(fiber, request) : Effect.updateContext(provided, withTelemetry)
  })
}
