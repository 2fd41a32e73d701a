/**
 * Trace context across two stagetrace services on loopback: a client calls service A (`Http.middleware`
 * under `Deno.serve` with a `ManagedRuntime`), whose handler calls service B (`Http.serve`) through
 * `Http.fetch`. B's request must continue A's trace under A's client span, with the sampled flag, the
 * tracestate (its `ot=th:` entry included) and the baggage.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import * as Http from "../../src/http/Http.ts"
import * as Propagation from "../../src/http/Propagation.ts"
import * as Request from "../../src/stage/Request.ts"
import * as Stage from "../../src/stage/Stage.ts"
import * as Summaries from "../../src/stage/Summaries.ts"
import * as Telemetry from "../../src/telemetry/Telemetry.ts"
import { parentIdOf, recordSpans, type SpanRecorder } from "../_spans.ts"

const TRACE = "0af7651916cd43dd8448eb211c80319c"
const CALLER_SPAN = "b7ad6b7169203331"

interface Service {
  readonly name: string
  readonly spans: SpanRecorder
  readonly runtime: ManagedRuntime.ManagedRuntime<never, unknown>
}

const makeService = (name: string): Service => {
  const spans = recordSpans()
  const runtime = ManagedRuntime.make(
    Telemetry.layer({ serviceName: name }).pipe(
      Layer.provideMerge(Layer.mergeAll(spans.layer, Layer.succeed(Metric.MetricRegistry, new Map()))),
    ),
  )
  return { name, spans, runtime }
}

/** What service B saw, returned by its handler. */
interface Seen {
  readonly traceparent: string | null
  readonly tracestate: string | null
  readonly baggageHeader: string | null
  readonly baggage: Record<string, string>
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
  /** The tracestate B itself would send on. */
  readonly forwardTraceState: string | null
}

const handlerB: Http.Handler<never, never> = (request) =>
  Effect.gen(function* () {
    const baggage = yield* Propagation.currentBaggage
    const summary = yield* Effect.orDie(Request.summary)
    const forward = yield* Propagation.inject(new Headers())
    yield* Effect.void.pipe(Stage.track("b_work"))
    const seen: Seen = {
      traceparent: request.headers.get("traceparent"),
      tracestate: request.headers.get("tracestate"),
      baggageHeader: request.headers.get("baggage"),
      baggage: Object.fromEntries([...baggage].map(([k, v]) => [k, v.value])),
      traceId: summary.traceId,
      spanId: summary.spanId,
      sampled: summary.sampled,
      forwardTraceState: forward.get("tracestate"),
    }
    return Response.json(seen)
  })

/** Service A's handler: one stage, then a call to B with one more baggage entry. */
const handlerA = (urlB: string): Http.Handler<Http.FetchError, never> => () =>
  Effect.gen(function* () {
    yield* Effect.void.pipe(Stage.track("a_prepare"))
    const response = yield* Http.fetch(`${urlB}/b`).pipe(Propagation.withBaggage({ fromA: "yes please" }))
    const seen = (yield* Effect.promise(() => response.json())) as Seen
    return Response.json(seen)
  })

/** Starts both services, runs `body` with A's URL, then stops everything. */
const withServices = async (
  body: (urlA: string, a: Service, b: Service, urlB: string) => Promise<void>,
): Promise<void> => {
  const a = makeService("service-a")
  const b = makeService("service-b")
  const scopeB = await b.runtime.runPromise(Scope.make())
  const serverB = await b.runtime.runPromise(
    Http.serve(handlerB, { hostname: "127.0.0.1", port: 0, route: "/b" }).pipe(Scope.provide(scopeB)),
  )
  const stopA = new AbortController()
  const serverA = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stopA.signal, onListen: () => {} },
    Http.middleware(handlerA(serverB.url), { runtime: a.runtime, route: "/a" }),
  )
  try {
    await body(`http://127.0.0.1:${serverA.addr.port}`, a, b, serverB.url)
  } finally {
    stopA.abort()
    await serverA.finished
    await b.runtime.runPromise(Scope.close(scopeB, Exit.void))
    await a.runtime.dispose()
    await b.runtime.dispose()
  }
}

const callA = async (urlA: string, headers: Record<string, string>): Promise<Seen> => {
  const response = await fetch(`${urlA}/a`, { headers })
  assert.equal(response.status, 200)
  return await response.json() as Seen
}

const only = (spans: ReadonlyArray<Tracer.NativeSpan>, kind: Tracer.SpanKind): Tracer.NativeSpan => {
  const found = spans.filter((span) => span.kind === kind)
  assert.equal(found.length, 1, `one ${kind} span`)
  return found[0]!
}

Deno.test("trace context survives Http.middleware → Http.fetch → Http.serve on loopback", async () => {
  await withServices(async (urlA, a, b) => {
    const seen = await callA(urlA, {
      traceparent: `00-${TRACE}-${CALLER_SPAN}-01`,
      tracestate: "ot=th:8,congo=t61rcWkgMzE",
      baggage: "userId=alice,serverNode=DF%2028",
    })

    // A: server span under the caller, client span under A's server span.
    const serverA = only(a.spans.spans, "server")
    const clientA = only(a.spans.spans, "client")
    assert.equal(serverA.traceId, TRACE)
    assert.equal(parentIdOf(serverA), CALLER_SPAN)
    assert.equal(parentIdOf(clientA), serverA.spanId)
    assert.equal(clientA.attributes.get("http.response.status_code"), 200)

    // B: same trace, its parent is A's client span.
    const serverB = only(b.spans.spans, "server")
    assert.equal(seen.traceId, TRACE)
    assert.equal(serverB.traceId, TRACE)
    assert.equal(parentIdOf(serverB), clientA.spanId)
    assert.equal(seen.spanId, serverB.spanId)
    // The flags: sampled kept, the caller's random-trace-id flag (unset) kept.
    assert.equal(seen.traceparent, `00-${TRACE}-${clientA.spanId}-01`)
    assert.equal(seen.sampled, true)
    // tracestate, `ot` entry included, arrives and would be sent on.
    assert.equal(seen.tracestate, "ot=th:8,congo=t61rcWkgMzE")
    assert.equal(seen.forwardTraceState, "ot=th:8,congo=t61rcWkgMzE")
    // Baggage from the caller and from A.
    assert.deepEqual(seen.baggage, { userId: "alice", serverNode: "DF 28", fromA: "yes please" })
    assert.equal(seen.baggageHeader, "userId=alice,serverNode=DF%2028,fromA=yes%20please")

    // Both requests were tracked with their stages, and B's summary is in A's trace.
    const [summaryA] = await a.runtime.runPromise(Summaries.recent(1))
    const [summaryB] = await b.runtime.runPromise(Summaries.recent(1))
    assert.deepEqual(summaryA?.stages.map((s) => s.stageId), ["a_prepare", "http_fetch"])
    assert.equal(summaryA?.name, "GET /a")
    assert.equal(summaryB?.name, "GET /b")
    assert.deepEqual(summaryB?.stages.map((s) => s.stageId), ["b_work"])
    assert.equal(summaryB?.traceId, summaryA?.traceId)
  })
})

Deno.test("an unsampled caller stays unsampled across both services, random flag kept", async () => {
  await withServices(async (urlA, a, b) => {
    const seen = await callA(urlA, { traceparent: `00-${TRACE}-${CALLER_SPAN}-02` })
    const clientA = only(a.spans.spans, "client")
    assert.equal(seen.traceparent, `00-${TRACE}-${clientA.spanId}-02`)
    assert.equal(seen.sampled, false)
    assert.equal(only(b.spans.spans, "server").sampled, false)
    assert.equal(seen.tracestate, null)
    assert.deepEqual(seen.baggage, { fromA: "yes please" })
  })
})

Deno.test("without a caller, A starts the trace and B continues it", async () => {
  await withServices(async (urlA, a, b) => {
    const seen = await callA(urlA, {})
    const serverA = only(a.spans.spans, "server")
    const clientA = only(a.spans.spans, "client")
    assert.equal(serverA.parent._tag, "None")
    assert.equal(seen.traceparent, `00-${serverA.traceId}-${clientA.spanId}-03`)
    assert.equal(parentIdOf(only(b.spans.spans, "server")), clientA.spanId)
  })
})

Deno.test("a tracestate set through Request.track({ parent }) reaches the next service", async () => {
  await withServices(async (_urlA, a, b, urlB) => {
    // A background job in A that continues a trace it got from a queue message.
    const job = Effect.gen(function* () {
      const response = yield* Http.fetch(`${urlB}/b`)
      return (yield* Effect.promise(() => response.json())) as Seen
    }).pipe(
      Request.track("job", {
        parent: {
          traceId: TRACE,
          spanId: CALLER_SPAN,
          sampled: true,
          traceState: "ot=th:c;rv:0123456789abcd,rojo=1",
        },
      }),
    )
    const seen = await a.runtime.runPromise(job)
    const clientA = only(a.spans.spans, "client")
    assert.equal(seen.traceparent, `00-${TRACE}-${clientA.spanId}-01`)
    assert.equal(seen.tracestate, "ot=th:c;rv:0123456789abcd,rojo=1")
    assert.equal(parentIdOf(only(b.spans.spans, "server")), clientA.spanId)
  })
})

Deno.test("both services record the HTTP metrics", async () => {
  await withServices(async (urlA, a, b) => {
    await callA(urlA, {})
    const count = async (service: Service, route: string) => {
      const snapshot = await service.runtime.runPromise(Metric.snapshot)
      const found = snapshot.find((m) =>
        m.id === "http_requests_total" && m.attributes?.["route"] === route &&
        m.attributes?.["status"] === "200"
      )
      return (found?.state as { count: number } | undefined)?.count
    }
    assert.equal(await count(a, "/a"), 1)
    assert.equal(await count(b, "/b"), 1)
  })
})

Deno.test("Http.serve fails with ServeError when the port is taken", async () => {
  const service = makeService("taken")
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 })
  try {
    const error = await service.runtime.runPromise(
      Http.serve(() => new Response("x"), { hostname: "127.0.0.1", port: blocker.addr.port }).pipe(
        Effect.scoped,
        Effect.flip,
      ),
    )
    assert.equal(error._tag, "ServeError")
    assert.match(error.message, /^Cannot start the HTTP server: /)
  } finally {
    blocker.close()
    await service.runtime.dispose()
  }
})

Deno.test("closing Http.serve's scope lets a request in flight finish", async () => {
  const service = makeService("graceful")
  const started = Promise.withResolvers<void>()
  const release = Promise.withResolvers<void>()
  const scope = await service.runtime.runPromise(Scope.make())
  const server = await service.runtime.runPromise(
    Http.serve(
      () =>
        Effect.gen(function* () {
          started.resolve()
          yield* Effect.promise(() => release.promise)
          return new Response("finished")
        }),
      { hostname: "127.0.0.1", port: 0 },
    ).pipe(Scope.provide(scope)),
  )
  const pending = fetch(`${server.url}/slow`).then((response) => response.text())
  await started.promise
  const closing = service.runtime.runPromise(Scope.close(scope, Exit.void))
  release.resolve()
  assert.equal(await pending, "finished")
  await closing
  const [summary] = await service.runtime.runPromise(Summaries.recent(1))
  assert.equal(summary?.status, "ok")
  await service.runtime.dispose()
})
