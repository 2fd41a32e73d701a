/**
 * The Prometheus endpoint: a web-standard handler (content negotiation, optional bearer token) and a
 * scoped `Deno.serve` that serves it on one path for the life of a scope.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { optionError, type TelemetryConfigError } from "../../internal/config.ts"
import type { HandlerConfig, ServerConfig } from "./options.ts"
import { render, renderScrape } from "./render.ts"
import type { Store } from "./store.ts"
import { safeEqual } from "../../internal/safeEqual.ts"

/** Content type of the text format 0.0.4. */
export const textContentType = "text/plain; version=0.0.4; charset=utf-8"
/** Content type of OpenMetrics 1.0. */
export const openMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

/**
 * The format a scraper asked for: OpenMetrics when its `Accept` header ranks `application/openmetrics-text`
 * at least as high as `text/plain` (and above zero), else the text format.
 */
export const negotiate = (accept: string | null | undefined): "text" | "openmetrics" => {
  if (accept === null || accept === undefined || accept === "") return "text"
  let om = -1
  let text = -1
  let any = -1
  for (const part of accept.split(",")) {
    const [rawType, ...params] = part.split(";")
    const type = rawType!.trim().toLowerCase()
    let q = 1
    for (const param of params) {
      const [key, value] = param.split("=")
      if (key?.trim().toLowerCase() === "q") {
        const parsed = Number(value?.trim())
        q = Number.isFinite(parsed) ? parsed : 0
      }
    }
    if (type === "application/openmetrics-text") om = Math.max(om, q)
    else if (type === "text/plain" || type === "text/*") text = Math.max(text, q)
    else if (type === "*/*") any = Math.max(any, q)
  }
  if (text < 0) text = any
  return om > 0 && om >= text ? "openmetrics" : "text"
}

/** The web handler serving `store`. */
export const makeHandler = (
  store: Store | undefined,
  context: Context.Context<never>,
  config: HandlerConfig,
): (request: Request) => Promise<Response> => {
  const token = config.bearerToken === undefined ? undefined : `Bearer ${Redacted.value(config.bearerToken)}`
  const runWith = Effect.runPromiseExitWith(context)
  return (request: Request): Promise<Response> => {
    const method = request.method
    if (method !== "GET" && method !== "HEAD") {
      return Promise.resolve(
        new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET, HEAD" } }),
      )
    }
    if (token !== undefined && !safeEqual(request.headers.get("authorization") ?? "", token)) {
      return Promise.resolve(
        new Response("Unauthorized\n", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="metrics"' },
        }),
      )
    }
    const format = config.format === "negotiate" ? negotiate(request.headers.get("accept")) : config.format
    const om = format === "openmetrics"
    const respond = (body: string): Response =>
      new Response(method === "HEAD" ? null : body, {
        status: 200,
        headers: {
          "content-type": om ? openMetricsContentType : textContentType,
          "cache-control": "no-store",
        },
      })
    const failed = (error: unknown): Response =>
      new Response(`Cannot render metrics: ${error instanceof Error ? error.message : String(error)}\n`, {
        status: 500,
      })
    if (store?.aggregator !== undefined) {
      // Across isolates: wait (bounded) for the other isolates' answers.
      return runWith(renderScrape(store, context, om)).then(
        (exit) => (Exit.isSuccess(exit) ? respond(exit.value) : failed(Cause.squash(exit.cause))),
        failed,
      )
    }
    let body: string
    try {
      body = store === undefined ? (om ? "# EOF\n" : "") : render(store, context, om)
    } catch (error) {
      return Promise.resolve(failed(error))
    }
    return Promise.resolve(respond(body))
  }
}

/**
 * Serves `store` with `Deno.serve` until the scope closes. A port that cannot be bound fails with a
 * `TelemetryConfigError` naming `<prefix>port`.
 */
export const serve = (
  store: Store,
  context: Context.Context<never>,
  config: ServerConfig,
  prefix: string,
): Effect.Effect<void, TelemetryConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const handle = makeHandler(store, context, config)
    const notFound = () => new Response("Not Found\n", { status: 404 })
    const aggregator = store.aggregator
    const address = `${config.hostname}:${config.port}`
    const bound = yield* Effect.acquireRelease(
      Effect.sync((): Deno.HttpServer<Deno.NetAddr> | Error => {
        try {
          return Deno.serve(
            { hostname: config.hostname, port: config.port, onListen: () => {} },
            (request) => (new URL(request.url).pathname === config.path ? handle(request) : notFound()),
          )
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error))
        }
      }),
      (server) => (server instanceof Error ? Effect.void : Effect.promise(() => server.shutdown())),
    )
    let addr: { readonly hostname: string; readonly port: number }
    if (bound instanceof Error) {
      // Aggregating isolates of one process (`deno serve --parallel`) all start this server: the first
      // binds the port, and since it answers for every isolate, the others only check that it is one of
      // them (not a stranger holding the port).
      const shared = bound instanceof Deno.errors.AddrInUse && aggregator !== undefined &&
        config.port !== 0 &&
        (yield* aggregator.awaitServer(address))
      if (!shared) {
        return yield* Effect.fail(
          optionError(
            `${prefix}port`,
            config.port,
            `Cannot listen on ${address}: ${bound.name}: ${bound.message}` +
              (bound instanceof Deno.errors.AddrInUse
                ? aggregator === undefined
                  ? " (under `deno serve --parallel` every isolate starts this server: set aggregateIsolates " +
                    "so that they share it and answer for each other)"
                  : " (and no other isolate on the aggregateIsolates channel serves it)"
                : ""),
          ),
        )
      }
      addr = { hostname: config.hostname, port: config.port }
    } else {
      addr = bound.addr
      if (aggregator !== undefined) {
        aggregator.announceServing(address)
        yield* Effect.addFinalizer(() => Effect.sync(() => aggregator.announceServing(undefined)))
      }
    }
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
    store.server = {
      hostname: addr.hostname,
      port: addr.port,
      url: `http://${host}:${addr.port}${config.path}`,
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => (store.server = undefined)))
  })
