/**
 * The dashboard's web handler and its scoped `Deno.serve`.
 *
 * Routes under the base path `P` (read-only, `GET`/`HEAD`): `P` the page, `P/events` the event stream,
 * `P/api/snapshot` the full payload, `P/api/request?id=` one request (summary, log records, trace link),
 * `P/api/search?q=` requests by id, `P/api/compare` this version against the previous one (`compareWith`). With a bearer token, every route needs it: as
 * `Authorization: Bearer <token>`, or as the cookie the page sets when opened once as `P?token=<token>`
 * (answered with a redirect that drops the token from the address bar). Tokens are compared in constant
 * time.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { optionError, type TelemetryConfigError } from "../../internal/config.ts"
import type { DashboardConfig, HandlerConfig } from "./options.ts"
import { renderPage } from "./page.ts"
import { formatEvent } from "./sse.ts"
import type { DashboardState } from "./state.ts"
import { safeEqual } from "../../internal/safeEqual.ts"

const encoder = new TextEncoder()

/** The cookie that carries the token for the page's own requests. */
export const cookieName = "stagetrace_dashboard"

const cookieOf = (header: string | null): string | undefined => {
  if (header === null) return undefined
  for (const part of header.split(";")) {
    const eq = part.indexOf("=")
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** JSON that survives bigint values. */
export const toJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v) => typeof v === "bigint" ? String(v) : v)

const common = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
}

const text = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...common, ...headers },
  })

const json = (body: string, status = 200): Response =>
  new Response(body, { status, headers: { "content-type": "application/json; charset=utf-8", ...common } })

/** The page with its Content-Security-Policy: only its own inline script (by hash) and same-origin fetches. */
export interface Page {
  readonly html: string
  readonly csp: string
}

/** Renders the page for `path` and the CSP that allows exactly its script. */
export const makePage = (path: string): Effect.Effect<Page> =>
  Effect.promise(async () => {
    const { html, script } = renderPage(path)
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(script)))
    const hash = btoa(String.fromCharCode(...digest))
    return {
      html,
      csp: [
        "default-src 'none'",
        `script-src 'sha256-${hash}'`,
        "style-src 'unsafe-inline'",
        "connect-src 'self'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ].join("; "),
    }
  })

/** The web handler of the dashboard `state`, serving under `config.path`. */
export const makeHandler = (
  state: DashboardState,
  config: HandlerConfig,
  page: Page,
  now: () => number,
): (request: Request) => Promise<Response> => {
  const token = config.bearerToken === undefined ? undefined : Redacted.value(config.bearerToken)
  const base = config.path === "/" ? "" : config.path
  const recorder = state.recorder
  const authorized = (request: Request): boolean => {
    if (token === undefined) return true
    const header = request.headers.get("authorization")
    if (header !== null && safeEqual(header, `Bearer ${token}`)) return true
    const cookie = cookieOf(request.headers.get("cookie"))
    return cookie !== undefined && safeEqual(cookie, token)
  }
  const handle = (request: Request): Response | Promise<Response> => {
    const method = request.method
    if (method !== "GET" && method !== "HEAD") {
      return text(405, "Method Not Allowed\n", { allow: "GET, HEAD" })
    }
    const url = new URL(request.url)
    const path = url.pathname
    const route = path === base || path === `${base}/`
      ? "page"
      : path.startsWith(`${base}/`)
      ? path.slice(base.length + 1)
      : undefined
    if (route === undefined) return text(404, "Not Found\n")
    // Opening the page once as `?token=…` stores the token in a cookie scoped to the dashboard.
    const given = url.searchParams.get("token")
    if (route === "page" && token !== undefined && given !== null) {
      if (!safeEqual(given, token)) return text(401, "Unauthorized\n")
      return new Response(null, {
        status: 303,
        headers: {
          ...common,
          location: `${base}/`,
          "set-cookie": `${cookieName}=${token}; Path=${base || "/"}; HttpOnly; SameSite=Strict`,
        },
      })
    }
    if (!authorized(request)) {
      return text(
        401,
        `Unauthorized: send "Authorization: Bearer <token>", or open ${base}/?token=<token> once in the browser\n`,
        { "www-authenticate": 'Bearer realm="stagetrace dashboard"' },
      )
    }
    switch (route) {
      case "page":
        return new Response(method === "HEAD" ? null : page.html, {
          status: 200,
          headers: {
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": page.csp,
            "x-frame-options": "DENY",
            ...common,
          },
        })
      case "events": {
        if (method === "HEAD") return new Response(null, { status: 200, headers: common })
        const first = formatEvent("init", toJson(state.init(now())))
        const connection = state.hub.open(first)
        if (connection === undefined) {
          recorder.countDrop("dashboard_too_many_connections")
          return text(503, "Too many open dashboards\n", { "retry-after": "5" })
        }
        return connection.response
      }
      case "api/snapshot":
        return json(toJson(state.init(now())))
      case "api/request": {
        const id = url.searchParams.get("id") ?? ""
        const details = state.details(id)
        if (details === undefined) return json(toJson({ error: "not found", id }), 404)
        // Summaries are redacted once, when their request ends; log records by the log concern.
        return json(toJson(details))
      }
      case "api/compare":
        return state.compare(now()).then((result) => json(toJson(result), "error" in result ? 404 : 200))
      case "api/search":
        return json(toJson({ results: state.search(url.searchParams.get("q") ?? "") }))
      default:
        return text(404, "Not Found\n")
    }
  }
  return (request: Request): Promise<Response> => {
    try {
      return Promise.resolve(handle(request)).catch((error) =>
        text(500, `Cannot render the dashboard: ${error instanceof Error ? error.message : String(error)}\n`)
      )
    } catch (error) {
      return Promise.resolve(
        text(500, `Cannot render the dashboard: ${error instanceof Error ? error.message : String(error)}\n`),
      )
    }
  }
}

/** Where a dashboard server listens. */
export interface ServerAddress {
  readonly hostname: string
  readonly port: number
  readonly url: string
}

/**
 * Serves `handle` with `Deno.serve` until the scope closes (open event streams are closed first, so the
 * server can stop). A port that cannot be bound fails with a `TelemetryConfigError` naming `dashboard.port`.
 */
export const serve = (
  state: DashboardState,
  config: DashboardConfig,
  handle: (request: Request) => Promise<Response>,
): Effect.Effect<ServerAddress, TelemetryConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const bound = yield* Effect.acquireRelease(
      Effect.sync((): Deno.HttpServer<Deno.NetAddr> | Error => {
        try {
          const base = config.path === "/" ? "" : config.path
          return Deno.serve(
            { hostname: config.hostname, port: config.port, onListen: () => {} },
            (request) => {
              // The server is the dashboard's own: its root leads to the page, and browsers get their icon.
              const path = new URL(request.url).pathname
              if (base !== "" && path === "/") {
                return new Response(null, { status: 302, headers: { ...common, location: `${base}/` } })
              }
              if (path === "/favicon.ico") return new Response(null, { status: 204, headers: common })
              return handle(request)
            },
          )
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error))
        }
      }),
      (server) =>
        server instanceof Error ? Effect.void : Effect.promise(() => {
          state.hub.closeAll()
          return server.shutdown()
        }),
    )
    if (bound instanceof Error) {
      return yield* Effect.fail(
        optionError(
          "dashboard.port",
          config.port,
          `Cannot listen on ${config.hostname}:${config.port}: ${bound.name}: ${bound.message}`,
        ),
      )
    }
    const addr = bound.addr
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
    const base = config.path === "/" ? "" : config.path
    return { hostname: addr.hostname, port: addr.port, url: `http://${host}:${addr.port}${base}/` }
  })
