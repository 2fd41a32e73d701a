/**
 * Requests served through `HttpRouter` under `Telemetry.layer`: stagetrace opens the request and its one
 * server span itself (Effect's own server span stays off), with the OpenTelemetry HTTP server attributes,
 * the caller's trace context, and the user's `HttpMiddleware` settings honoured.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { HttpMiddleware, HttpRouter, HttpServerResponse } from "effect/http"
import { Exporter, Propagation, Sampler, Stage, Telemetry } from "../../mod.ts"
import { metricValue } from "./_app.ts"

const Routes = Layer.mergeAll(
  HttpRouter.add("GET", "/chat/:id", Effect.succeed(HttpServerResponse.text("ok"))),
  HttpRouter.add("GET", "/health", Effect.succeed(HttpServerResponse.text("up"))),
  HttpRouter.add("GET", "/down", Effect.succeed(HttpServerResponse.text("down", { status: 503 }))),
  HttpRouter.add(
    "GET",
    "/propagate",
    Effect.map(
      Propagation.inject({} as Record<string, string>),
      (headers) => HttpServerResponse.text(JSON.stringify(headers)),
    ),
  ),
  HttpRouter.add(
    "GET",
    "/users/:id/token/:token",
    Effect.succeed(HttpServerResponse.text("ok")),
    { redactedParams: ["token"] },
  ),
)

type Compose = "provideMerge" | "provide"

interface App {
  readonly memory: Exporter.MemoryExporter
  readonly fetch: (path: string, headers?: Record<string, string>) => Promise<Response>
  readonly dispose: () => Promise<void>
}

/** A router app under `Telemetry.layer`; `outer` is provided to the whole app (the telemetry layer too). */
const start = (options: {
  readonly telemetry?: Telemetry.TelemetryOptions
  readonly compose?: Compose
  // deno-lint-ignore no-explicit-any
  readonly routes?: Layer.Layer<never, never, any>
  readonly outer?: Layer.Layer<never>
}): App => {
  const memory = Exporter.memory()
  const telemetry = Telemetry.layer({ exporters: [memory], ...options.telemetry })
  const routes = options.routes === undefined ? Routes : Layer.merge(Routes, options.routes)
  let app = options.compose === "provide"
    ? routes.pipe(Layer.provide(telemetry))
    : routes.pipe(Layer.provideMerge(telemetry))
  app = app.pipe(Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())))
  if (options.outer !== undefined) app = app.pipe(Layer.provideMerge(options.outer))
  const web = HttpRouter.toWebHandler(app, { disableLogger: true })
  const handler = web.handler as (request: Request) => Promise<Response>
  return {
    memory,
    fetch: (path, headers) =>
      handler(new Request(`http://chat.local:8080${path}`, { headers: headers ?? {} })),
    dispose: web.dispose,
  }
}

const withApp = async (options: Parameters<typeof start>[0], f: (app: App) => Promise<void>) => {
  const app = start(options)
  try {
    await f(app)
  } finally {
    await app.dispose()
  }
}

const serverSpans = (app: App) => app.memory.spans().filter((span) => span.kind === "server")

Deno.test("the server span is named after the route and carries the OpenTelemetry HTTP server attributes", async () => {
  await withApp({}, async (app) => {
    const response = await app.fetch("/chat/7?q=secret", { "user-agent": "test-agent/1.0" })
    assert.equal(await response.text(), "ok")
    const spans = app.memory.spans()
    assert.equal(spans.length, 1, "one span: Effect opened no server span of its own")
    const [span] = spans
    assert.equal(span?.kind, "server")
    assert.equal(span?.name, "GET /chat/:id")
    assert.equal(span?.status, "ok")
    const [summary] = app.memory.summaries()
    assert.equal(summary?.spanId, span?.spanId)
    const expected = {
      "http.request.method": "GET",
      "url.path": "/chat/7",
      "url.scheme": "http",
      "server.address": "chat.local",
      "server.port": 8080,
      "user_agent.original": "test-agent/1.0",
      "http.route": "/chat/:id",
      "http.response.status_code": 200,
    }
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(span?.attributes[key], value, `span ${key}`)
      assert.equal(summary?.attributes[key], value, `summary ${key}`)
    }
    assert.equal(span?.attributes["request.id"], summary?.requestId)
    // The query string is not recorded.
    assert.ok(!Object.values(span?.attributes ?? {}).some((value) => String(value).includes("secret")))
  })
})

Deno.test("the head sampler sees the route: rules by name and by http.route apply to router requests", async () => {
  for (
    const rule of [
      { name: "GET /health", sampler: Sampler.alwaysOff },
      { attributes: { "http.route": "/health" }, sampler: Sampler.alwaysOff },
    ]
  ) {
    await withApp({ telemetry: { sampler: Sampler.rules([rule], Sampler.alwaysOn) } }, async (app) => {
      await app.fetch("/health")
      await app.fetch("/chat/1")
      assert.deepEqual(app.memory.summaries().map((s) => s.name), ["GET /chat/:id"])
      assert.deepEqual(app.memory.spans().map((s) => s.name), ["GET /chat/:id"])
    })
  }
})

Deno.test("the caller's trace context is continued: traceparent, tracestate and baggage reach the handler", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
  await withApp({}, async (app) => {
    const response = await app.fetch("/propagate", {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      tracestate: "vendor=abc",
      baggage: "tenant=acme",
    })
    const injected = await response.json() as Record<string, string>
    const [span] = serverSpans(app)
    assert.equal(span?.traceId, traceId)
    assert.equal(span?.parentSpanId, "00f067aa0ba902b7")
    assert.equal(injected["traceparent"], `00-${traceId}-${span?.spanId}-01`)
    assert.match(injected["tracestate"] ?? "", /vendor=abc/)
    assert.equal(injected["baggage"], "tenant=acme")
  })
})

Deno.test("a B3 parent is continued", async () => {
  const traceId = "80f198ee56343ba864fe8b2a57d3eff7"
  await withApp({}, async (app) => {
    await app.fetch("/chat/1", { b3: `${traceId}-e457b5a2e4d86bd1-1` })
    const [span] = serverSpans(app)
    assert.equal(span?.traceId, traceId)
    assert.equal(span?.parentSpanId, "e457b5a2e4d86bd1")
  })
})

Deno.test("statuses: a 5xx response fails the request and its span; a 404 is a request without route", async () => {
  await withApp({}, async (app) => {
    assert.equal((await app.fetch("/down")).status, 503)
    assert.equal((await app.fetch("/nowhere")).status, 404)
    const [down, missing] = app.memory.summaries()
    assert.equal(down?.name, "GET /down")
    assert.equal(down?.status, "error")
    assert.equal(down?.error?.type, "HttpServerError")
    assert.equal(down?.attributes["http.response.status_code"], 503)
    assert.equal(missing?.name, "GET")
    assert.equal(missing?.status, "ok")
    assert.equal(missing?.attributes["http.response.status_code"], 404)
    assert.equal(missing?.attributes["http.route"], undefined)
    const spans = serverSpans(app)
    assert.deepEqual(spans.map((s) => [s.name, s.status]), [["GET /down", "error"], ["GET", "ok"]])
    assert.equal(spans[0]?.attributes["error.type"], "HttpServerError")
    const metrics = app.memory.metrics()
    assert.equal(
      metricValue(metrics, "http_requests_total", { method: "GET", route: "/down", status: "503" }),
      1,
    )
    assert.equal(metricValue(metrics, "http_requests_total", { method: "GET", route: "", status: "404" }), 1)
  })
})

Deno.test("a route's redactedParams are redacted in url.path", async () => {
  await withApp({}, async (app) => {
    await app.fetch("/users/42/token/s3cr3t")
    const [span] = serverSpans(app)
    assert.equal(span?.attributes["url.path"], "/users/42/token/REDACTED")
    assert.equal(app.memory.summaries()[0]?.attributes["url.path"], "/users/42/token/REDACTED")
  })
})

const noHealth = HttpMiddleware.layerTracerDisabledForUrls(["/health"])

Deno.test("the user's TracerDisabledWhen is honoured, with Layer.provideMerge and Layer.provide", async () => {
  for (const compose of ["provideMerge", "provide"] as const) {
    await withApp({ compose, outer: noHealth }, async (app) => {
      await app.fetch("/health")
      await app.fetch("/chat/1")
      assert.deepEqual(app.memory.summaries().map((s) => s.name), ["GET /chat/:id"], compose)
      assert.deepEqual(app.memory.spans().map((s) => s.name), ["GET /chat/:id"], compose)
    })
  }
})

Deno.test("a TracerDisabledWhen that replaces ours in the app's context still gives one request per request", async () => {
  const memory = Exporter.memory()
  const app = Routes.pipe(
    Layer.provideMerge(Telemetry.layer({ exporters: [memory] })),
    // Merged beside the telemetry layer's output: in the request fibers it replaces the predicate that
    // keeps Effect's server span off, so Effect opens it and stagetrace adopts it.
    Layer.provideMerge(Layer.merge(noHealth, Layer.succeed(Metric.MetricRegistry, new Map()))),
  )
  const web = HttpRouter.toWebHandler(app, { disableLogger: true })
  try {
    await web.handler(new Request("http://chat.local/health"))
    await web.handler(new Request("http://chat.local/chat/1"))
    assert.deepEqual(memory.summaries().map((s) => s.name), ["GET /chat/:id"])
    assert.equal(memory.spans().length, 1)
    assert.equal(memory.spans()[0]?.attributes["http.route"], "/chat/:id")
  } finally {
    await web.dispose()
  }
})

Deno.test("the user's SpanNameGenerator names the span; the request keeps its route name", async () => {
  const generator = Layer.succeed(HttpMiddleware.SpanNameGenerator)((request) => `http ${request.method}`)
  await withApp({ outer: generator }, async (app) => {
    await app.fetch("/chat/1")
    assert.deepEqual(app.memory.spans().map((s) => s.name), ["http GET"])
    assert.deepEqual(app.memory.summaries().map((s) => s.name), ["GET /chat/:id"])
  })
  const failing = Layer.succeed(HttpMiddleware.SpanNameGenerator)(() => {
    throw new Error("boom")
  })
  await withApp({ outer: failing }, async (app) => {
    assert.equal((await app.fetch("/chat/1")).status, 200, "a generator that throws breaks nothing")
    assert.deepEqual(app.memory.spans().map((s) => s.name), ["GET /chat/:id"])
  })
})

Deno.test("the user's TracerHeaderFilter records request and response headers, credentials redacted", async () => {
  const filter = Layer.succeed(HttpMiddleware.TracerHeaderFilter)((name) =>
    name === "x-tenant" || name === "authorization" || name === "content-type"
  )
  await withApp({ outer: filter }, async (app) => {
    await app.fetch("/chat/1", { "x-tenant": "acme", authorization: "Bearer token" })
    const [span] = serverSpans(app)
    assert.equal(span?.attributes["http.request.header.x-tenant"], "acme")
    // Redacted (Effect's `Headers.CurrentRedactedNames`, then stagetrace's redactor on export).
    assert.notEqual(span?.attributes["http.request.header.authorization"], undefined)
    assert.doesNotMatch(String(span?.attributes["http.request.header.authorization"]), /Bearer/)
    assert.equal(span?.attributes["http.response.header.content-type"], "text/plain")
  })
})

Deno.test("a span opened before the route is known (a global middleware) is the request's parent span", async () => {
  const Early = HttpRouter.middleware((app) => Effect.andThen(Stage.track(Effect.void, "auth"), app), {
    global: true,
  })
  await withApp({ routes: Early }, async (app) => {
    await app.fetch("/chat/1")
    const [summary] = app.memory.summaries()
    assert.equal(summary?.name, "GET /chat/:id")
    assert.deepEqual(summary?.stages.map((s) => s.stageId), ["auth"])
    const server = serverSpans(app)[0]
    assert.equal(server?.attributes["http.route"], "/chat/:id")
    assert.equal(app.memory.spans().find((s) => s.name === "auth")?.parentSpanId, server?.spanId)
  })
})
