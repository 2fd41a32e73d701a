/**
 * The client side: `Http.fetch`, a `fetch` with a client span (a stage of the current request by
 * default), the OpenTelemetry HTTP client attributes and W3C header injection. Calls made with tracing
 * turned off (`Http.TracingDisabled`, or Effect's tracer disabled) are plain
 * fetches: no span, no headers.
 *
 * @internal
 */
import { denoTracesFetch } from "../../internal/killSwitch.ts"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { CurrentRecorder, stageSpanAnnotations } from "../../internal/recorder.ts"
import { currentRequest, makeSpec, trackStage } from "../../stage/internal/tracking.ts"
import { injectInto, TracingDisabled } from "./context.ts"
import { hostOf, normalizeMethod, portOf, redactUrl, spanName } from "./semconv.ts"
import { StatusFailure } from "./server.ts"
import type { TaggedErrorClass } from "../../internal/taggedError.ts"

/** Options of `Http.fetch`, see the public module. */
export interface FetchOptionsShape {
  readonly stage?: string | false | undefined
  readonly urlTemplate?: string | undefined
  readonly propagate?: boolean | undefined
  readonly isError?: ((status: number) => boolean) | undefined
  readonly fetch?: typeof globalThis.fetch | undefined
}

/** The fields of `FetchError`. */
interface FetchErrorFields {
  /** What `fetch` threw or rejected with. */
  readonly cause: unknown
  readonly method: string
  /** The URL, with credentials and signatures redacted. */
  readonly url: string
}

const FetchErrorBase: TaggedErrorClass<"FetchError", FetchErrorFields> = Data.TaggedError(
  "FetchError",
)<FetchErrorFields>

/**
 * `Http.fetch` could not get a response: a network error, a refused connection, an invalid URL or an
 * aborted request. A response with any status is not an error.
 *
 * @category errors
 * @since 0.1.0
 */
export class FetchError extends FetchErrorBase {
  override get message(): string {
    const cause = this.cause
    const reason = cause instanceof Error ? cause.message : String(cause)
    return `${this.method} ${this.url} failed: ${reason}`
  }
}

/** The default stage id of `Http.fetch` inside a request. */
export const DEFAULT_STAGE = "http_fetch"

const defaultIsError = (status: number): boolean => status >= 400

const mergeSignals = (a: AbortSignal | null | undefined, b: AbortSignal): AbortSignal =>
  a === undefined || a === null ? b : AbortSignal.any([a, b])

const plainFetch = (
  fetchImpl: typeof globalThis.fetch,
  input: string | URL | globalThis.Request,
  init: RequestInit | undefined,
  method: string,
  url: string,
): Effect.Effect<Response, FetchError> =>
  Effect.tryPromise({
    try: (signal) => fetchImpl(input, { ...init, signal: mergeSignals(init?.signal, signal) }),
    catch: (cause) => new FetchError({ cause, method, url }),
  })

const safeUrl = (raw: string): URL | undefined => {
  try {
    return new URL(raw)
  } catch {
    return undefined
  }
}

/** `Http.fetch`. */
export const tracedFetch = (
  input: string | URL | globalThis.Request,
  init: RequestInit | undefined,
  options: FetchOptionsShape | undefined,
): Effect.Effect<Response, FetchError> =>
  Effect.withFiber((fiber) => {
    const fetchImpl = options?.fetch ?? globalThis.fetch
    const isRequest = typeof globalThis.Request !== "undefined" && input instanceof globalThis.Request
    const rawMethod = (init?.method ?? (isRequest ? (input as globalThis.Request).method : "GET"))
      .toUpperCase()
    const rawUrl = typeof input === "string" ? input : input instanceof URL ? input.href : input.url
    const url = safeUrl(rawUrl)
    const shownUrl = url === undefined ? rawUrl : redactUrl(url)
    if (
      fiber.getRef(TracingDisabled) || !fiber.cache.tracerEnabled || !fiber.getRef(CurrentRecorder).enabled ||
      url === undefined
    ) {
      return plainFetch(fetchImpl, input, init, rawMethod, shownUrl)
    }
    const method = normalizeMethod(rawMethod)
    const name = spanName(method, options?.urlTemplate)
    const address = hostOf(url)
    const port = portOf(url)
    const propagate = options?.propagate !== false
    const isError = options?.isError ?? defaultIsError

    const call = Effect.withFiber((inner) => {
      const span = inner.cache.span
      if (span !== undefined && span._tag === "Span") {
        span.attribute("http.request.method", method)
        if (method === "_OTHER") span.attribute("http.request.method_original", rawMethod)
        span.attribute("url.full", shownUrl)
        span.attribute("server.address", address)
        if (port !== undefined) span.attribute("server.port", port)
        if (options?.urlTemplate !== undefined) span.attribute("url.template", options.urlTemplate)
      }
      let requestInit = init
      if (propagate) {
        let headers: Headers
        try {
          headers = new Headers(
            init?.headers ?? (isRequest ? (input as globalThis.Request).headers : undefined),
          )
        } catch (cause) {
          // Headers fetch itself would refuse: the same FetchError a plain fetch gives, not a defect.
          return Effect.fail(new FetchError({ cause, method: rawMethod, url: shownUrl }))
        }
        injectInto(inner, headers)
        // Under OTEL_DENO=true, Deno's own fetch instrumentation writes the traceparent (of its fetch span,
        // a child of this one); ours would make it a list of two, which receivers must reject.
        if (denoTracesFetch && fetchImpl === globalThis.fetch) headers.delete("traceparent")
        requestInit = { ...init, headers }
      }
      return Effect.flatMap(
        plainFetch(fetchImpl, input, requestInit, rawMethod, shownUrl),
        (response) => {
          if (span !== undefined && span._tag === "Span") {
            span.attribute("http.response.status_code", response.status)
          }
          return isError(response.status)
            ? Effect.fail(new StatusFailure(response))
            : Effect.succeed(response)
        },
      )
    })

    const stage = options?.stage
    let traced: Effect.Effect<Response, FetchError | StatusFailure>
    if (typeof stage === "string" || (stage === undefined && currentRequest(fiber) !== undefined)) {
      traced = trackStage(
        call,
        makeSpec(stage ?? DEFAULT_STAGE, {
          name,
          kind: "client",
          metadata: { "http.request.method": method, "server.address": address },
        }),
      )
    } else {
      // Marked as stagetrace's own span: the adoption of Effect's client spans leaves it alone.
      traced = Effect.withSpan(call, name, {
        kind: "client",
        captureStackTrace: false,
        annotations: stageSpanAnnotations,
      })
    }
    return Effect.catchIf(
      traced,
      (error): error is StatusFailure => error instanceof StatusFailure,
      (failure) => Effect.succeed(failure.response),
    ) as Effect.Effect<Response, FetchError>
  })
