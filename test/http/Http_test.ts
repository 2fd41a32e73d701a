/**
 * `Http.middleware` and `Http.fetch`: what a server records for each request and what a client sends.
 * Handlers are called directly with web `Request`s (no sockets); the loopback tests are in
 * test/integration/http_propagation_test.ts.
 */
import assert from "node:assert/strict"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import { CurrentRecorder, type Recorder } from "../../src/internal/recorder.ts"
import * as Http from "../../src/http/Http.ts"
import * as Propagation from "../../src/http/Propagation.ts"
import * as Request from "../../src/stage/Request.ts"
import * as Stage from "../../src/stage/Stage.ts"
import * as StageStats from "../../src/stage/StageStats.ts"
import * as Summaries from "../../src/stage/Summaries.ts"
import * as Telemetry from "../../src/telemetry/Telemetry.ts"
import { effectTest } from "../_harness.ts"
import { parentIdOf, recordSpans } from "../_spans.ts"

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN = "00f067aa0ba902b7"

/** A service: a runtime with the telemetry layer, a span recorder and its own metric registry. */
const makeService = (options: Telemetry.TelemetryOptions = {}) => {
  const spans = recordSpans()
  const runtime = ManagedRuntime.make(
    Telemetry.layer({ serviceName: "svc", ...options }).pipe(
      Layer.provideMerge(Layer.mergeAll(spans.layer, Layer.succeed(Metric.MetricRegistry, new Map()))),
    ),
  )
  const recorder = (): Promise<Recorder> =>
    runtime.runPromise(Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder))))
  /** Summaries, oldest first. */
  const summaries = async () => (await runtime.runPromise(Summaries.recent(100))).slice().reverse()
  /** The value of a counter or the count of a histogram, by name and labels. */
  const metric = async (name: string, labels: Record<string, string>) => {
    const snapshot = await runtime.runPromise(Metric.snapshot)
    const found = snapshot.find((m) =>
      m.id === name && Object.entries(labels).every(([k, v]) => m.attributes?.[k] === v)
    )
    if (found === undefined) return undefined
    const state = found.state as { count: number }
    return state.count
  }
  return { spans, runtime, recorder, summaries, metric, [Symbol.asyncDispose]: () => runtime.dispose() }
}

const get = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
  new globalThis.Request(`http://127.0.0.1:8080${path}`, { headers, ...init })

// ---------------------------------------------------------------------------------------------------------
// Http.middleware
// ---------------------------------------------------------------------------------------------------------

Deno.test("middleware: without the runtime option it refuses to build, naming the option", () => {
  const handler = () => new Response("ok")
  for (const options of [undefined, {}, { route: "/x" }, { runtime: undefined }]) {
    assert.throws(
      // @ts-expect-error: `runtime` is required, so a handler that would export nothing does not compile
      () => Http.middleware(handler, options),
      (error: unknown) =>
        error instanceof TypeError && /Http\.middleware/.test(error.message) &&
        /`runtime`/.test(error.message),
      JSON.stringify(options),
    )
  }
  // The process-wide recorder, on purpose: a runtime without the telemetry layer.
  const bare = ManagedRuntime.make(Layer.empty)
  assert.equal(typeof Http.middleware(handler, { runtime: bare }), "function")
})

Deno.test("middleware: a request is a server span with the HTTP attributes, and feeds the metrics", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok", { status: 201 }), {
    runtime: service.runtime,
    route: "/users/:id",
  })
  const response = await handler(get("/users/42?q=1", { "user-agent": "test-agent/1.0" }), {
    remoteAddr: { transport: "tcp", hostname: "10.0.0.7" },
  })
  assert.equal(await response.text(), "ok")

  const span = service.spans.byName("GET /users/:id")
  assert.equal(span.kind, "server")
  assert.equal(span.parent._tag, "None")
  const attributes = Object.fromEntries(span.attributes)
  assert.deepEqual(
    {
      method: attributes["http.request.method"],
      path: attributes["url.path"],
      scheme: attributes["url.scheme"],
      route: attributes["http.route"],
      host: attributes["server.address"],
      port: attributes["server.port"],
      agent: attributes["user_agent.original"],
      client: attributes["client.address"],
      status: attributes["http.response.status_code"],
    },
    {
      method: "GET",
      path: "/users/42",
      scheme: "http",
      route: "/users/:id",
      host: "127.0.0.1",
      port: 8080,
      agent: "test-agent/1.0",
      client: "10.0.0.7",
      status: 201,
    },
  )
  const [summary] = await service.summaries()
  assert.equal(summary?.name, "GET /users/:id")
  assert.equal(summary?.success, true)
  assert.equal(summary?.attributes["http.response.status_code"], 201)
  assert.equal(summary?.traceId, span.traceId)

  const labels = { method: "GET", route: "/users/:id", status: "201" }
  assert.equal(await service.metric("http_requests_total", labels), 1)
  assert.equal(await service.metric("http_request_duration_seconds", labels), 1)
})

Deno.test("middleware: without a route the name is the method and the route label is empty", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response(null, { status: 204 }), { runtime: service.runtime })
  await handler(get("/a"))
  await handler(get("/b"))
  const names = (await service.summaries()).map((s) => s.name)
  assert.deepEqual(names, ["GET", "GET"])
  assert.equal(await service.metric("http_requests_total", { method: "GET", route: "", status: "204" }), 2)
})

Deno.test("middleware: the request duration metric is read from the runtime's Clock", async () => {
  // A clock of its own (wall-clock nanoseconds past 2^53), advanced by the handler: 250 ms then 1.5 s.
  let nanos = BigInt(1_700_000_000) * BigInt(1_000_000_000)
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => Number(nanos / BigInt(1_000_000)),
    currentTimeMillis: Effect.sync(() => Number(nanos / BigInt(1_000_000))),
    currentTimeNanosUnsafe: () => nanos,
    currentTimeNanos: Effect.sync(() => nanos),
    monotonicTimeNanosUnsafe: () => nanos,
    monotonicTimeNanos: Effect.sync(() => nanos),
    sleep: () => Effect.void,
  }
  const registry = new Map()
  const runtime = ManagedRuntime.make(
    Telemetry.layer({ serviceName: "svc" }).pipe(
      Layer.provideMerge(Layer.mergeAll(
        Layer.succeed(Metric.MetricRegistry, registry),
        Layer.succeed(Clock.Clock, clock),
      )),
    ),
  )
  try {
    let step = BigInt(250_000_000)
    const handler = Http.middleware(() => {
      nanos += step
      return new Response("ok")
    }, { runtime, route: "/" })
    await handler(get("/"))
    step = BigInt(1_500_000_000)
    await handler(get("/"))
    const snapshot = await runtime.runPromise(Metric.snapshot)
    const duration = snapshot.find((m) => m.id === "http_request_duration_seconds")
    const state = duration?.state as { count: number; sum: number; min: number; max: number }
    assert.equal(state.count, 2)
    assert.ok(Math.abs(state.min - 0.25) < 1e-9, `min ${state.min}`)
    assert.ok(Math.abs(state.max - 1.5) < 1e-9, `max ${state.max}`)
    assert.ok(Math.abs(state.sum - 1.75) < 1e-9, `sum ${state.sum}`)
  } finally {
    await runtime.dispose()
  }
})

Deno.test("middleware: the caller's trace, tracestate and baggage are continued", async () => {
  await using service = makeService()
  let seen: Propagation.Baggage | undefined
  let sent: Headers | undefined
  const handler = Http.middleware(
    () =>
      Effect.gen(function* () {
        seen = yield* Propagation.currentBaggage
        sent = yield* Propagation.inject(new Headers())
        return new Response("ok")
      }),
    { runtime: service.runtime },
  )
  const response = await handler(get("/", {
    traceparent: `00-${TRACE}-${SPAN}-03`,
    tracestate: "ot=th:8,congo=1",
    baggage: "userId=alice",
  }))
  await response.body?.cancel()
  const span = service.spans.byName("GET")
  assert.equal(span.traceId, TRACE)
  assert.equal(parentIdOf(span), SPAN)
  assert.equal(seen?.get("userId")?.value, "alice")
  assert.equal(sent?.get("traceparent"), `00-${TRACE}-${span.spanId}-03`)
  assert.equal(sent?.get("tracestate"), "ot=th:8,congo=1")
  assert.equal(sent?.get("baggage"), "userId=alice")
})

Deno.test("middleware: an unsampled caller gives an unsampled request", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), { runtime: service.runtime })
  await (await handler(get("/", { traceparent: `00-${TRACE}-${SPAN}-00` }))).body?.cancel()
  assert.equal(service.spans.byName("GET").sampled, false)
  const [summary] = await service.summaries()
  assert.equal(summary?.sampled, false)
})

Deno.test("middleware: malformed trace headers are ignored and counted, never thrown", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), { runtime: service.runtime })
  const response = await handler(get("/", {
    traceparent: `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    tracestate: "a=1",
    baggage: "bad key=1,good=2",
  }))
  assert.equal(response.status, 200)
  await response.body?.cancel()
  assert.notEqual(service.spans.byName("GET").traceId, TRACE.toUpperCase())
  const recorder = await service.recorder()
  assert.deepEqual(Object.fromEntries(recorder.drops), { invalid_traceparent: 1, invalid_baggage: 1 })
})

Deno.test("middleware: extract: false starts a new trace and ignores incoming baggage", async () => {
  await using service = makeService()
  let seen = -1
  const handler = Http.middleware(
    () => Effect.map(Propagation.currentBaggage, (b) => (seen = b.size, new Response("ok"))),
    { runtime: service.runtime, extract: false },
  )
  await (await handler(get("/", { traceparent: `00-${TRACE}-${SPAN}-01`, baggage: "a=1" }))).body?.cancel()
  const span = service.spans.byName("GET")
  assert.notEqual(span.traceId, TRACE)
  assert.equal(span.parent._tag, "None")
  assert.equal(seen, 0)
})

Deno.test("middleware: a 5xx response fails the request, a 4xx does not", async () => {
  await using service = makeService()
  const handler = Http.middleware(
    (request) => new Response("x", { status: Number(new URL(request.url).searchParams.get("status")) }),
    { runtime: service.runtime },
  )
  const failed = await handler(get("/?status=503"))
  assert.equal(failed.status, 503, "the response is returned unchanged")
  await failed.body?.cancel()
  await (await handler(get("/?status=404"))).body?.cancel()
  const [s503, s404] = await service.summaries()
  assert.equal(s503?.success, false)
  assert.equal(s503?.status, "error")
  assert.equal(s503?.error?.type, "503")
  assert.equal(s404?.success, true)
  const spans = service.spans.spans.filter((s) => s.kind === "server")
  assert.equal(spans[0]?.attributes.get("error.type"), "503")
  assert.equal(spans[0]?.status._tag === "Ended" && spans[0].status.exit._tag, "Failure")
  assert.equal(spans[1]?.attributes.get("error.type"), undefined)
  assert.equal(await service.metric("http_requests_total", { status: "503" }), 1)
  assert.equal(await service.metric("http_requests_total", { status: "404" }), 1)
})

Deno.test("middleware: a throwing handler is recorded and its error passed on to the server", async () => {
  await using service = makeService()
  const boom = new TypeError("boom")
  const handler = Http.middleware(() => {
    throw boom
  }, { runtime: service.runtime })
  await assert.rejects(handler(get("/")), (error) => error === boom)
  const rejecting = Http.middleware(() => Promise.reject(boom), { runtime: service.runtime })
  await assert.rejects(rejecting(get("/")), (error) => error === boom)
  const failing = Http.middleware(() => Effect.fail(boom), { runtime: service.runtime })
  await assert.rejects(failing(get("/")), (error) => error === boom)
  const summaries = await service.summaries()
  assert.deepEqual(summaries.map((s) => [s.success, s.error?.type]), [
    [false, "TypeError"],
    [false, "TypeError"],
    [false, "TypeError"],
  ])
  assert.equal(await service.metric("http_requests_total", { status: "500" }), 3)
})

Deno.test("middleware: a handler that returns no Response is an error", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => "nope" as unknown as Response, { runtime: service.runtime })
  await assert.rejects(handler(get("/")), TypeError)
})

Deno.test("middleware: x-request-id is the request id when it is valid", async () => {
  await using service = makeService()
  const ids: Array<string> = []
  const handler = Http.middleware((_request, _info, context) => {
    ids.push(context.requestId)
    return new Response("ok")
  }, { runtime: service.runtime })
  for (
    const headers of [{ "x-request-id": "req-1" }, { "x-request-id": "has space" }, {
      "x-request-id": "x".repeat(129),
    }, {}]
  ) {
    await (await handler(get("/", headers))).body?.cancel()
  }
  const summaries = await service.summaries()
  assert.equal(summaries[0]?.requestId, "req-1")
  assert.equal(ids[0], "req-1")
  for (const i of [1, 2, 3]) {
    assert.match(summaries[i]!.requestId, /^[0-9a-f-]{36}$/, "a generated UUID")
    assert.equal(ids[i], summaries[i]!.requestId, "the handler sees the generated id")
  }
  const recorder = await service.recorder()
  assert.equal(recorder.drops.get("invalid_request_id"), 2)
})

Deno.test("middleware: the request id header is configurable, or ignored", async () => {
  await using service = makeService()
  const custom = Http.middleware(() => new Response("ok"), {
    runtime: service.runtime,
    requestIdHeader: "X-Trace-Key",
  })
  const none = Http.middleware(() => new Response("ok"), { runtime: service.runtime, requestIdHeader: false })
  await (await custom(get("/", { "x-trace-key": "k-1" }))).body?.cancel()
  await (await none(get("/", { "x-request-id": "r-1" }))).body?.cancel()
  const [a, b] = await service.summaries()
  assert.equal(a?.requestId, "k-1")
  assert.notEqual(b?.requestId, "r-1")
})

Deno.test("middleware: a requestIdHeader that is not a header name never fails a request; it is counted", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), {
    runtime: service.runtime,
    requestIdHeader: "x request id",
  })
  const response = await handler(get("/", { "x-request-id": "r-1" }))
  assert.equal(await response.text(), "ok")
  const [summary] = await service.summaries()
  assert.notEqual(summary?.requestId, "r-1")
  assert.equal((await service.recorder()).drops.get("invalid_request_id"), 1)
})

Deno.test("middleware: context.run runs effects inside the request from Promise code", async () => {
  await using service = makeService()
  const fakeFetch = (_input: string | URL | globalThis.Request, init?: RequestInit) =>
    Promise.resolve(new Response(new Headers(init?.headers).get("traceparent")))
  const handler = Http.middleware(async (_request, _info, context) => {
    const response = await context.run(
      Http.fetch("http://kb.internal/search", undefined, { fetch: fakeFetch }),
    )
    const traceparent = await response.text()
    await context.run(Effect.sleep("1 millis").pipe(Stage.track("format")))
    return new Response(traceparent)
  }, { runtime: service.runtime })
  const sent = await (await handler(get("/"))).text()
  const [summary] = await service.summaries()
  assert.deepEqual(summary?.stages.map((s) => s.stageId), ["http_fetch", "format"])
  const client = service.spans.spans.find((s) => s.kind === "client")!
  assert.equal(sent, `00-${summary?.traceId}-${client.spanId}-03`)
  assert.equal(parentIdOf(client), summary?.spanId)
})

Deno.test("middleware: an Effect handler's stages belong to the request", async () => {
  await using service = makeService()
  const handler = Http.middleware(
    () =>
      Effect.gen(function* () {
        yield* Effect.void.pipe(Stage.track("auth_check"))
        yield* Effect.void.pipe(Stage.track("llm_request"))
        return new Response("ok")
      }),
    { runtime: service.runtime, route: "/chat", budget: "1 minute" },
  )
  await (await handler(get("/chat", {}, { method: "POST", body: "hi" }))).body?.cancel()
  const [summary] = await service.summaries()
  assert.equal(summary?.name, "POST /chat")
  assert.deepEqual(summary?.stages.map((s) => s.stageId), ["auth_check", "llm_request"])
})

Deno.test("middleware: an unknown method is _OTHER, with the original kept", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), { runtime: service.runtime })
  await (await handler(get("/", {}, { method: "PURGE" }))).body?.cancel()
  const span = service.spans.byName("HTTP")
  assert.equal(span.attributes.get("http.request.method"), "_OTHER")
  assert.equal(span.attributes.get("http.request.method_original"), "PURGE")
  assert.equal(await service.metric("http_requests_total", { method: "_OTHER" }), 1)
})

Deno.test("middleware: routes past maxRoutes share one label, counted", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), {
    runtime: service.runtime,
    maxRoutes: 2,
    route: (request) => new URL(request.url).pathname,
  })
  for (const path of ["/a", "/b", "/a", "/c", "/d"]) await (await handler(get(path))).body?.cancel()
  assert.equal(await service.metric("http_requests_total", { route: "/a" }), 2)
  assert.equal(await service.metric("http_requests_total", { route: "/b" }), 1)
  assert.equal(await service.metric("http_requests_total", { route: "_OTHER" }), 2)
  assert.equal((await service.recorder()).drops.get("http_route_overflow"), 2)
})

Deno.test("middleware: a route or name function that throws is ignored", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), {
    runtime: service.runtime,
    route: () => {
      throw new Error("bad route")
    },
    name: () => {
      throw new Error("bad name")
    },
  })
  assert.equal((await handler(get("/"))).status, 200)
  assert.equal((await service.summaries())[0]?.name, "GET")
})

Deno.test("middleware: options name, attributes and metrics: false", async () => {
  await using service = makeService()
  const handler = Http.middleware(() => new Response("ok"), {
    runtime: service.runtime,
    name: "health",
    attributes: (request) => ({ "app.tenant": request.headers.get("x-tenant") }),
    metrics: false,
  })
  await (await handler(get("/", { "x-tenant": "acme" }))).body?.cancel()
  const [summary] = await service.summaries()
  assert.equal(summary?.name, "health")
  assert.equal(summary?.attributes["app.tenant"], "acme")
  assert.equal(await service.metric("http_requests_total", {}), undefined)
})

Deno.test("middleware: each request keeps its own attributes, annotations included", async () => {
  await using service = makeService()
  const handler = Http.middleware(
    (request) =>
      Effect.as(
        new URL(request.url).pathname === "/a" ? Request.annotate("app.user", "alice") : Effect.void,
        new Response("ok"),
      ),
    { runtime: service.runtime, attributes: (request) => ({ "app.path": new URL(request.url).pathname }) },
  )
  for (const path of ["/a", "/b"]) await (await handler(get(path))).body?.cancel()
  const summaries = await service.summaries()
  const byPath = new Map(summaries.map((summary) => [summary.attributes["app.path"], summary.attributes]))
  assert.equal(byPath.get("/a")?.["app.user"], "alice")
  assert.equal(byPath.get("/a")?.["url.path"], "/a")
  assert.equal(byPath.get("/b")?.["app.user"], undefined)
  assert.equal(byPath.get("/b")?.["url.path"], "/b")
  assert.equal(byPath.get("/b")?.["http.response.status_code"], 200)
})

Deno.test("middleware: with interruptOnAbort, a client that goes away interrupts an Effect handler", async () => {
  await using service = makeService()
  const started = Promise.withResolvers<void>()
  const handler = Http.middleware(
    () => Effect.andThen(Effect.sync(() => started.resolve()), Effect.never),
    { runtime: service.runtime, interruptOnAbort: true },
  )
  const abort = new AbortController()
  const pending = handler(get("/", {}, { signal: abort.signal }))
  await started.promise
  abort.abort()
  const response = await pending
  assert.equal(response.status, 499)
  const [summary] = await service.summaries()
  assert.equal(summary?.status, "interrupted")
  assert.equal(await service.metric("http_requests_total", { status: "499" }), 1)
})

/** A request that counts how often its `signal` is read (Deno creates and later aborts it when read). */
const watchedRequest = (init: RequestInit = {}) => {
  const request = get("/", {}, init)
  const signal = request.signal
  let reads = 0
  Object.defineProperty(request, "signal", {
    get: () => {
      reads++
      return signal
    },
  })
  return { request, reads: () => reads }
}

Deno.test("middleware: by default the handler runs to completion when the client goes away, and the signal is never read", async () => {
  await using service = makeService()
  const abort = new AbortController()
  const { request, reads } = watchedRequest({ signal: abort.signal })
  const handler = Http.middleware(
    () =>
      Effect.gen(function* () {
        abort.abort()
        yield* Effect.sleep(1)
        return new Response("done")
      }),
    { runtime: service.runtime },
  )
  const response = await handler(request)
  assert.equal(await response.text(), "done")
  assert.equal(reads(), 0)
  const [summary] = await service.summaries()
  assert.equal(summary?.status, "ok")
})

Deno.test("middleware: with interruptOnAbort, a request that completes synchronously never reads the signal", async () => {
  await using service = makeService()
  const { request, reads } = watchedRequest()
  const handler = Http.middleware(() => Effect.succeed(new Response("ok")), {
    runtime: service.runtime,
    interruptOnAbort: true,
  })
  await service.runtime.runPromise(Effect.void)
  const response = await handler(request)
  assert.equal(await response.text(), "ok")
  assert.equal(reads(), 0)
})

Deno.test("middleware: with the kill switch the handler runs and nothing is recorded", async () => {
  await using service = makeService({ enabled: false })
  const handler = Http.middleware(() => new Response("ok"), { runtime: service.runtime })
  assert.equal(await (await handler(get("/"))).text(), "ok")
  assert.equal((await service.summaries()).length, 0)
  assert.equal(service.spans.spans.length, 0)
  assert.equal(await service.metric("http_requests_total", {}), undefined)
})

Deno.test("middleware: with a runtime without the telemetry layer requests still run and are tracked", async () => {
  // The process-wide recorder, chosen explicitly (a missing runtime is refused, see above).
  const runtime = ManagedRuntime.make(Layer.empty)
  const handler = Http.middleware(
    () =>
      Effect.map(Request.currentId, (id) => new Response(id._tag === "Some" ? "in request" : "no request")),
    { runtime },
  )
  assert.equal(await (await handler(get("/"))).text(), "in request")
  await runtime.dispose()
})

// ---------------------------------------------------------------------------------------------------------
// Http.fetch
// ---------------------------------------------------------------------------------------------------------

interface FakeCall {
  readonly input: string | URL | globalThis.Request
  readonly init: RequestInit | undefined
  readonly headers: Headers
}

/** A fetch that records its calls and answers `respond(call)`. */
const fakeFetch = (respond: (call: FakeCall) => Response | Promise<Response> = () => new Response("ok")) => {
  const calls: Array<FakeCall> = []
  const fetch = (input: string | URL | globalThis.Request, init?: RequestInit) => {
    const call = { input, init, headers: new Headers(init?.headers) }
    calls.push(call)
    return Promise.resolve(respond(call))
  }
  return { calls, fetch }
}

const consume = (response: Response) => Effect.promise(() => response.text())

effectTest("fetch inside a request is a client stage with the HTTP client attributes", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    const summary = yield* Effect.gen(function* () {
      const response = yield* Http.fetch("https://user:secret@kb.internal/search?q=x&sig=abc", undefined, {
        fetch: fake.fetch,
      })
      yield* consume(response)
      return yield* Request.summary
    }).pipe(Request.track("chat"))
    assert.deepEqual(summary.stages.map((s) => [s.stageId, s.name, s.success]), [["http_fetch", "GET", true]])
    assert.deepEqual(summary.stages[0]?.metadata, {
      "http.request.method": "GET",
      "server.address": "kb.internal",
    })
    const client = spans.byName("GET")
    assert.equal(client.kind, "client")
    assert.equal(parentIdOf(client), summary.spanId)
    assert.deepEqual(Object.fromEntries(client.attributes), {
      "request.id": summary.requestId,
      "stage.id": "http_fetch",
      "stage.name": "GET",
      "http.request.method": "GET",
      "server.address": "kb.internal",
      "server.port": 443,
      "url.full": "https://REDACTED:REDACTED@kb.internal/search?q=x&sig=REDACTED",
      "http.response.status_code": 200,
    })
    assert.equal(fake.calls[0]?.headers.get("traceparent"), `00-${summary.traceId}-${client.spanId}-03`)
    assert.equal(
      fake.calls[0]?.input,
      "https://user:secret@kb.internal/search?q=x&sig=abc",
      "the URL sent is unchanged",
    )
  }).pipe(Effect.provide(spans.layer))
})

effectTest("fetch outside a request is a client span, not a stage", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* consume(
      yield* Http.fetch(new URL("http://example.com:8080/x"), { method: "POST" }, { fetch: fake.fetch }),
    )
    const client = spans.byName("POST")
    assert.equal(client.kind, "client")
    assert.equal(client.attributes.get("server.port"), 8080)
    assert.equal(client.attributes.get("stage.id"), undefined)
    assert.equal(yield* StageStats.get("http_fetch"), undefined)
    assert.equal(fake.calls[0]?.headers.get("traceparent"), `00-${client.traceId}-${client.spanId}-03`)
  }).pipe(Effect.provide(Telemetry.layer().pipe(Layer.provideMerge(spans.layer))))
})

effectTest("fetch with a stage id is always a stage; with stage: false never", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* consume(yield* Http.fetch("http://kb/", undefined, { fetch: fake.fetch, stage: "kb_lookup" }))
    assert.equal((yield* StageStats.get("kb_lookup"))?.count, 1)
    const summary = yield* Effect.gen(function* () {
      yield* consume(yield* Http.fetch("http://kb/", undefined, { fetch: fake.fetch, stage: false }))
      return yield* Request.summary
    }).pipe(Request.track("r"))
    assert.equal(summary.stages.length, 0)
    assert.equal(spans.spans.filter((s) => s.kind === "client").length, 2)
  }).pipe(Effect.provide(Telemetry.layer().pipe(Layer.provideMerge(spans.layer))))
})

effectTest("fetch: a 4xx or 5xx response fails the client span and stage, and is still returned", () => {
  const spans = recordSpans()
  const fake = fakeFetch((call) =>
    new Response("no", { status: String(call.input).endsWith("missing") ? 404 : 503 })
  )
  return Effect.gen(function* () {
    const summary = yield* Effect.gen(function* () {
      const missing = yield* Http.fetch("http://kb/missing", undefined, { fetch: fake.fetch })
      assert.equal(missing.status, 404)
      yield* consume(missing)
      const down = yield* Http.fetch("http://kb/down", undefined, { fetch: fake.fetch })
      assert.equal(down.status, 503)
      yield* consume(down)
      const tolerated = yield* Http.fetch("http://kb/missing", undefined, {
        fetch: fake.fetch,
        isError: (status) => status >= 500,
      })
      yield* consume(tolerated)
      return yield* Request.summary
    }).pipe(Request.track("r"))
    assert.deepEqual(summary.stages.map((s) => [s.success, s.error?.type]), [[false, "404"], [false, "503"], [
      true,
      undefined,
    ]])
    assert.equal(summary.success, true, "the request itself did not fail")
    const clients = spans.spans.filter((s) => s.kind === "client")
    assert.deepEqual(clients.map((s) => s.attributes.get("error.type")), ["404", "503", undefined])
  }).pipe(Effect.provide(spans.layer))
})

effectTest("fetch: a network error is a FetchError with the URL redacted", () => {
  const failing = (_input: string | URL | globalThis.Request) =>
    Promise.reject(new TypeError("connection refused"))
  return Effect.gen(function* () {
    const [error, summary] = yield* Effect.gen(function* () {
      const error = yield* Effect.flip(Http.fetch("http://u:p@down.internal/", undefined, { fetch: failing }))
      return [error, yield* Request.summary] as const
    }).pipe(Request.track("r"))
    assert.equal(error._tag, "FetchError")
    assert.equal(error.url, "http://REDACTED:REDACTED@down.internal/")
    assert.equal(error.method, "GET")
    assert.equal(error.message, "GET http://REDACTED:REDACTED@down.internal/ failed: connection refused")
    assert.deepEqual(summary.stages.map((s) => [s.success, s.error?.type]), [[false, "FetchError"]])
  })
})

effectTest(
  "fetch: headers fetch refuses are a FetchError, traced or not, never a defect",
  () =>
    Effect.gen(function* () {
      // Like fetch: headers are checked before anything is sent.
      const ok = (_input: string | URL | globalThis.Request, init?: RequestInit) =>
        Promise.resolve().then(() => new Headers(init?.headers)).then(() => new Response("ok"))
      const bad = { headers: { "bad name": "x" } }
      const traced = yield* Effect.flip(Http.fetch("http://kb.internal/", bad, { fetch: ok })).pipe(
        Request.track("r"),
      )
      assert.equal(traced._tag, "FetchError")
      const plain = yield* Effect.flip(
        Http.fetch("http://kb.internal/", bad, { propagate: false, fetch: ok }),
      )
      assert.equal(plain._tag, "FetchError")
    }),
)

effectTest("fetch with tracing disabled is a plain fetch: no span, no headers", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* Effect.gen(function* () {
      yield* consume(
        yield* Http.withoutTracing(
          Http.fetch("http://collector/v1/traces", undefined, { fetch: fake.fetch }),
        ),
      )
      yield* consume(
        yield* Http.fetch("http://collector/v1/traces", undefined, { fetch: fake.fetch }).pipe(
          Effect.provideService(Http.TracingDisabled, true),
        ),
      )
      // Effect's own exporters disable the tracer for their calls.
      yield* consume(
        yield* Http.fetch("http://collector/v1/traces", undefined, { fetch: fake.fetch }).pipe(
          Effect.withTracerEnabled(false),
        ),
      )
    }).pipe(Propagation.withBaggage({ a: "1" }), Request.track("r"))
    assert.equal(fake.calls.length, 3)
    for (const call of fake.calls) {
      assert.equal(call.headers.get("traceparent"), null)
      assert.equal(call.headers.get("baggage"), null)
    }
    assert.deepEqual(spans.spans.map((s) => s.name), ["r"])
  }).pipe(Effect.provide(spans.layer))
})

effectTest("fetch with propagate: false traces but sends no trace headers", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* consume(
      yield* Http.fetch("https://third.party/", undefined, { fetch: fake.fetch, propagate: false }).pipe(
        Propagation.withBaggage({ secret: "x" }),
      ),
    )
    assert.equal(fake.calls[0]?.headers.get("traceparent"), null)
    assert.equal(fake.calls[0]?.headers.get("baggage"), null)
    assert.equal(spans.spans.length, 1)
  }).pipe(Effect.provide(spans.layer))
})

effectTest("fetch keeps the caller's headers and method from a Request input", () => {
  const fake = fakeFetch()
  return Effect.gen(function* () {
    const input = new globalThis.Request("http://api/items", {
      method: "PUT",
      headers: { authorization: "Bearer t", tracestate: "stale=1" },
      body: "{}",
    })
    yield* consume(yield* Http.fetch(input, undefined, { fetch: fake.fetch }).pipe(Request.track("r")))
    const headers = fake.calls[0]!.headers
    assert.equal(headers.get("authorization"), "Bearer t")
    assert.match(headers.get("traceparent")!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-03$/)
    assert.equal(headers.get("tracestate"), null, "a stale tracestate is not sent with our traceparent")
    const summary = (yield* Summaries.recent(1))[0]
    assert.equal(summary?.stages[0]?.metadata["http.request.method"], "PUT")
    // The body of the Request is still readable by the fetch that was called.
    assert.equal(yield* Effect.promise(() => (fake.calls[0]!.input as globalThis.Request).text()), "{}")
  }).pipe(Effect.provide(Telemetry.layer()))
})

effectTest("fetch: init headers win over a Request's, and baggage is sent", () => {
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* consume(
      yield* Http.fetch("http://api/", { headers: { "x-a": "1" } }, { fetch: fake.fetch }).pipe(
        Propagation.withBaggage({ userId: "Amélie" }),
      ),
    )
    assert.equal(fake.calls[0]?.headers.get("x-a"), "1")
    assert.equal(fake.calls[0]?.headers.get("baggage"), "userId=Am%C3%A9lie")
  })
})

effectTest("fetch: a URL template names the span", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* consume(
      yield* Http.fetch("http://api/users/42", undefined, { fetch: fake.fetch, urlTemplate: "/users/{id}" }),
    )
    const span = spans.byName("GET /users/{id}")
    assert.equal(span.attributes.get("url.template"), "/users/{id}")
  }).pipe(Effect.provide(spans.layer))
})

effectTest("fetch: an unknown method is _OTHER and the span is named HTTP", () => {
  const spans = recordSpans()
  const fake = fakeFetch()
  return Effect.gen(function* () {
    yield* consume(yield* Http.fetch("http://api/", { method: "PURGE" }, { fetch: fake.fetch }))
    const span = spans.byName("HTTP")
    assert.equal(span.attributes.get("http.request.method"), "_OTHER")
    assert.equal(span.attributes.get("http.request.method_original"), "PURGE")
    assert.equal(fake.calls[0]?.init?.method, "PURGE")
  }).pipe(Effect.provide(spans.layer))
})

effectTest("fetch: interrupting the effect aborts the request", () => {
  let signal: AbortSignal | undefined
  const hanging = (_input: string | URL | globalThis.Request, init?: RequestInit) => {
    signal = init?.signal ?? undefined
    return new Promise<Response>(() => {})
  }
  return Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(Http.fetch("http://slow/", undefined, { fetch: hanging }))
    yield* Effect.yieldNow
    assert.equal(signal?.aborted, false)
    yield* Fiber.interrupt(fiber)
    assert.equal(signal?.aborted, true)
  })
})

effectTest("fetch: the caller's own abort signal still works", () => {
  let signal: AbortSignal | undefined
  const hanging = (_input: string | URL | globalThis.Request, init?: RequestInit) => {
    signal = init?.signal ?? undefined
    return new Promise<Response>((_, reject) =>
      signal!.addEventListener("abort", () => reject(signal!.reason))
    )
  }
  return Effect.gen(function* () {
    const controller = new AbortController()
    const fiber = yield* Effect.forkChild(
      Effect.flip(Http.fetch("http://slow/", { signal: controller.signal }, { fetch: hanging })),
    )
    yield* Effect.yieldNow
    controller.abort(new Error("caller gave up"))
    const error = yield* Fiber.join(fiber)
    assert.equal(error._tag, "FetchError")
    assert.equal((error.cause as Error).message, "caller gave up")
  })
})

effectTest("fetch: an invalid URL fails with FetchError, untraced", () => {
  const spans = recordSpans()
  return Effect.gen(function* () {
    const error = yield* Effect.flip(Http.fetch("not a url"))
    assert.equal(error._tag, "FetchError")
    assert.equal(spans.spans.length, 0)
  }).pipe(Effect.provide(spans.layer))
})

Deno.test("metrics describes the HTTP metrics", () => {
  assert.equal(Http.metrics.requestsTotal, "http_requests_total")
  assert.equal(Http.metrics.requestDurationSeconds, "http_request_duration_seconds")
  assert.deepEqual(Http.metrics.labels, ["method", "route", "status"])
})
