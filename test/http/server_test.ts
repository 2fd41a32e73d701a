/**
 * The effect `Http.middleware` runs per request (`serveRequest`), through both of its paths: as one
 * primitive with its own frames (what runs under the pinned Effect), and through Effect's combinators (what
 * runs when Effect's internals differ, `frames: false`). Each must serve the same responses and record the
 * same requests and metrics.
 */
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import { framesSupported } from "../../src/internal/frame.ts"
import { type AnyHandler, type ServerConfig, serveRequest } from "../../src/http/internal/server.ts"
import * as Stage from "../../src/stage/Stage.ts"
import * as Summaries from "../../src/stage/Summaries.ts"
import * as Telemetry from "../../src/telemetry/Telemetry.ts"

const config = (overrides: Partial<ServerConfig> = {}): ServerConfig => ({
  route: () => "/r",
  name: undefined,
  requestIdHeader: "x-request-id",
  extract: true,
  metrics: true,
  maxRoutes: 10,
  budget: undefined,
  attributes: undefined,
  routes: new Set(),
  ...overrides,
})

const get = (headers: Record<string, string> = {}) =>
  new globalThis.Request("http://127.0.0.1:8080/r?q=1", { headers })

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

const withService = async (
  body: (
    serve: (
      handler: AnyHandler<unknown, never>,
      request?: globalThis.Request,
    ) => Promise<Exit.Exit<Response, unknown>>,
    runtime: ManagedRuntime.ManagedRuntime<never, never>,
  ) => Promise<void>,
  frames: boolean,
) => {
  const runtime = ManagedRuntime.make(
    Telemetry.layer({ serviceName: "svc" }).pipe(
      Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
    ),
  )
  try {
    await body(
      (handler, request = get()) =>
        runtime.runPromise(Effect.exit(serveRequest(config(), handler, request, undefined, frames))),
      runtime as ManagedRuntime.ManagedRuntime<never, never>,
    )
  } finally {
    await runtime.dispose()
  }
}

const requestCount = async (runtime: ManagedRuntime.ManagedRuntime<never, never>, status: string) => {
  const snapshot = await runtime.runPromise(Metric.snapshot)
  const found = snapshot.find((m) => m.id === "http_requests_total" && m.attributes?.["status"] === status)
  return (found?.state as { count: number } | undefined)?.count
}

Deno.test("serveRequest: the pinned Effect takes the primitive path", () => {
  assert.equal(framesSupported, true)
})

for (const frames of [true, false]) {
  const path = frames ? "primitive" : "combinators"

  Deno.test(`serveRequest (${path}): an effect handler's response, its request and its metrics`, async () => {
    await withService(async (serve, runtime) => {
      const seen: Array<{ requestId: string; traceId: string; spanId: string }> = []
      const exit = await serve(
        (_request, _info, context) =>
          Effect.gen(function* () {
            seen.push({ requestId: context.requestId, traceId: context.traceId, spanId: context.spanId })
            const { run } = context
            yield* Effect.promise(() => run(Effect.void.pipe(Stage.track("inside"))))
            return new Response("ok", { status: 201 })
          }),
        get({ "x-request-id": "r-1", traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }),
      )
      assert.ok(Exit.isSuccess(exit))
      assert.equal(exit.value.status, 201)
      await exit.value.body?.cancel()
      const [summary] = await runtime.runPromise(Summaries.recent(1))
      assert.equal(summary?.name, "GET /r")
      assert.equal(summary?.requestId, "r-1")
      assert.equal(summary?.traceId, TRACE)
      assert.equal(summary?.success, true)
      assert.deepEqual(summary?.stages.map((s) => s.stageId), ["inside"])
      assert.equal(summary?.attributes["http.response.status_code"], 201)
      assert.equal(summary?.attributes["url.path"], "/r")
      assert.deepEqual(seen, [{ requestId: "r-1", traceId: TRACE, spanId: summary?.spanId }])
      assert.equal(await requestCount(runtime, "201"), 1)
    }, frames)
  })

  Deno.test(`serveRequest (${path}): a 5xx is served, and recorded as a failed request`, async () => {
    await withService(async (serve, runtime) => {
      const exit = await serve(() => Effect.succeed(new Response(null, { status: 503 })))
      assert.ok(Exit.isSuccess(exit), "the 5xx response is the effect's success")
      assert.equal(exit.value.status, 503)
      const [summary] = await runtime.runPromise(Summaries.recent(1))
      assert.equal(summary?.success, false)
      assert.equal(summary?.error?.type, "503")
      assert.equal(await requestCount(runtime, "503"), 1)
    }, frames)
  })

  Deno.test(`serveRequest (${path}): plain and promised responses, throws, rejections and non-responses`, async () => {
    await withService(async (serve, runtime) => {
      const plain = await serve(() => new Response("a"))
      assert.ok(Exit.isSuccess(plain) && plain.value.status === 200)
      const plainFailed = await serve(() => new Response(null, { status: 502 }))
      assert.ok(Exit.isSuccess(plainFailed) && plainFailed.value.status === 502)
      const promised = await serve(() => Promise.resolve(new Response(null, { status: 500 })))
      assert.ok(Exit.isSuccess(promised) && promised.value.status === 500)
      const thrown = await serve(() => {
        throw new Error("boom")
      })
      assert.ok(Exit.isFailure(thrown))
      const rejected = await serve(() => Promise.reject(new Error("no")))
      assert.ok(Exit.isFailure(rejected))
      const notResponse = await serve(() => Effect.succeed("text" as unknown as Response))
      assert.ok(Exit.isFailure(notResponse))
      const plainNotResponse = await serve(() => 42 as unknown as Response)
      assert.ok(Exit.isFailure(plainNotResponse))
      assert.match(
        String(Exit.isFailure(notResponse) && notResponse.cause.reasons[0]),
        /did not return a Response/,
      )
      const summaries = (await runtime.runPromise(Summaries.recent(10))).slice().reverse()
      assert.deepEqual(summaries.map((s) => s.success), [true, false, false, false, false, false, false])
      assert.equal(summaries[1]?.error?.type, "502")
      assert.equal(await requestCount(runtime, "502"), 1)
      assert.equal(await requestCount(runtime, "200"), 1)
      assert.equal(await requestCount(runtime, "500"), 5)
    }, frames)
  })
}
