import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { TestClock } from "effect/testing"
import { Dashboard, Request, Stage, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { DashboardSlot, tick } from "../../src/dashboard/internal/concern.ts"
import { isLoopback } from "../../src/dashboard/internal/options.ts"
import { formatEvent, SseHub } from "../../src/dashboard/internal/sse.ts"
import { effectTest, liveTest, runFor } from "../_harness.ts"

// deno-lint-ignore no-explicit-any -- JSON payloads read back in assertions
type Json = Record<string, any>

/** The telemetry layer with a dashboard (not served); no console output, the log capture is the only logger. */
const layer = (options: Telemetry.TelemetryOptions = {}) =>
  Telemetry.layer({ dashboard: { serve: false, bucket: "5 seconds", buckets: 12 }, ...options }).pipe(
    Layer.provide(Logger.layer([])),
  )

/** Calls the dashboard handler (GET by default) and reads the body. */
const call = (path: string, init: RequestInit = {}, options?: Dashboard.HandlerOptions) =>
  Effect.gen(function* () {
    const handle = yield* Dashboard.handler(options)
    const response = yield* Effect.promise(() =>
      handle(new globalThis.Request(`http://localhost${path}`, init))
    )
    const text = yield* Effect.promise(() => response.text())
    return { status: response.status, headers: response.headers, text }
  })

const snapshot = Effect.map(call("/dashboard/api/snapshot"), (r) => JSON.parse(r.text) as Json)

/** A request whose stages took the given durations (virtual time: `Stage.record`). */
const requestOf = (id: string, stages: Record<string, number>, fail = false) =>
  Effect.gen(function* () {
    for (const [stageId, durationMs] of Object.entries(stages)) yield* Stage.record(stageId, { durationMs })
    yield* Effect.logInfo("answer ready", { id })
    if (fail) yield* Effect.fail(new Error("invalid input"))
  }).pipe(
    Request.track("chat", { requestId: id, attributes: { password: "hunter2", route: "/chat" } }),
    Effect.ignore,
  )

effectTest(
  "Dashboard charts each bucket's requests and stage quantiles from the StageStats sketches",
  () =>
    Effect.gen(function* () {
      for (let i = 0; i < 40; i++) yield* requestOf(`a-${i}`, { auth: 2, llm: 10 + (i % 10) })
      yield* TestClock.adjust("5 seconds")
      for (let i = 0; i < 20; i++) yield* requestOf(`b-${i}`, { auth: 2, llm: 100 }, i < 5)
      yield* TestClock.adjust("5 seconds")
      const s = yield* snapshot
      const [first, second] = s.series as Array<Json>
      assert.equal(first!.t, 0)
      assert.equal(first!.requests, 40)
      assert.equal(first!.failed, 0)
      assert.equal(second!.t, 5000)
      assert.equal(second!.requests, 20)
      assert.equal(second!.failed, 5)
      // [p50, p95, p99, count, errors] per stage, within the sketches' 1%.
      const llm = first!.stages.llm as Array<number>
      assert.equal(llm[3], 40)
      assert.ok(Math.abs(llm[0]! - 14.5) < 0.3, `p50 ${llm[0]}`)
      assert.ok(Math.abs(llm[1]! - 19) < 0.3, `p95 ${llm[1]}`)
      assert.ok(Math.abs(second!.stages.llm[1] - 100) < 1.5)
      assert.deepEqual(s.chartStages, ["llm", "auth"])
      assert.equal(s.requests.newest[0].id, "b-19")
      assert.deepEqual(s.requests.failed.map((r: Json) => r.id), ["b-4", "b-3", "b-2", "b-1", "b-0"])
      assert.equal(s.totalRequests, 60)
      assert.equal(s.stageTable[0].stageId, "llm")
      assert.equal(s.stageTable[0].count, 60)
      assert.equal(s.errors.totalErrors, 5)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "Dashboard ranks bottlenecks and lists the slowest requests of the window",
  () =>
    Effect.gen(function* () {
      const timed = (id: string, authMs: number, llmMs: number) =>
        Effect.gen(function* () {
          yield* Effect.sleep(`${authMs} millis`).pipe(Stage.track("auth"))
          yield* Effect.sleep(`${llmMs} millis`).pipe(Stage.track("llm"))
        }).pipe(Request.track("chat", { requestId: id }))
      const requests = Array.from({ length: 10 }, (_, i) => timed(`r-${i}`, i === 9 ? 300 : 2, 20 + i * 10))
      yield* runFor(Effect.all(requests, { concurrency: "unbounded" }), "1 second")
      const s = yield* snapshot
      assert.deepEqual(s.requests.slowest.slice(0, 3).map((r: Json) => r.id), ["r-9", "r-8", "r-7"])
      assert.deepEqual(
        s.bottlenecks.map((b: Json) => [b.stageId, b.requests]),
        [["llm", 9], ["auth", 1]],
      )
      // r-9 spent 300 of its 410 ms in auth: llm (27%) was under the 30% share there.
      assert.equal(s.bottlenecks[0].shareOfRequests, 0.9)
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "Dashboard keeps a bounded history: old buckets and requests leave",
  () =>
    Effect.gen(function* () {
      for (let b = 0; b < 30; b++) {
        for (let i = 0; i < 3; i++) yield* requestOf(`r-${b}-${i}`, { auth: 1 }, i === 0)
        yield* TestClock.adjust("5 seconds")
      }
      const s = yield* snapshot
      assert.equal(s.series.length, 12)
      assert.equal(s.series[0].t, 19 * 5000)
      assert.equal(s.requests.failed.length, 25)
      const installed = (yield* CurrentRecorder).get(DashboardSlot)!
      assert.ok(installed.state.logs.of("r-0-1").length === 0, "the log ring overwrote the oldest records")
      assert.equal(installed.state.logs.of("r-29-1").length, 1)
    }).pipe(
      Effect.provide(layer({ dashboard: { serve: false, buckets: 12, tableSize: 25, logCapacity: 50 } })),
    ),
)

effectTest(
  "Dashboard shows a request's summary, redacted, with its own log records and trace link",
  () =>
    Effect.gen(function* () {
      yield* requestOf("r-1", { auth: 2, llm: 30 }, true)
      yield* requestOf("r-2", { auth: 2 })
      const response = yield* call("/dashboard/api/request?id=r-1")
      assert.equal(response.status, 200)
      const details = JSON.parse(response.text) as Json
      assert.equal(details.summary.requestId, "r-1")
      assert.equal(details.summary.attributes.route, "/chat")
      assert.notEqual(details.summary.attributes.password, "hunter2")
      assert.deepEqual(details.summary.stages.map((s: Json) => s.stageId), ["auth", "llm"])
      assert.equal(details.summary.error.message, "invalid input")
      assert.equal(details.logs.length, 1)
      assert.equal(details.logs[0].message, "answer ready")
      assert.equal(details.logs[0].request_id, "r-1")
      assert.equal(details.traceUrl, `http://jaeger.local:16686/trace/${details.summary.traceId}`)
      assert.equal((yield* call("/dashboard/api/request?id=nope")).status, 404)
    }).pipe(Effect.provide(layer({
      dashboard: { serve: false, traceUrl: "http://jaeger.local:16686/trace/{traceId}" },
    }))),
)

effectTest(
  "Dashboard keeps at most logsPerRequest records per request and counts the rest",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        for (let i = 0; i < 5; i++) yield* Effect.logWarning(`line ${i}`)
      }).pipe(Request.track("chat", { requestId: "chatty" }))
      const details = JSON.parse((yield* call("/dashboard/api/request?id=chatty")).text) as Json
      assert.deepEqual(details.logs.map((r: Json) => r.message), ["line 0", "line 1", "line 2"])
      assert.equal((yield* CurrentRecorder).drops.get("dashboard_log_capture_full"), 2)
    }).pipe(Effect.provide(layer({ dashboard: { serve: false, logsPerRequest: 3 } }))),
)

effectTest(
  "Dashboard finds requests by id: the exact one first, then ids containing the text",
  () =>
    Effect.gen(function* () {
      for (const id of ["order-1", "order-12", "order-2", "other"]) yield* requestOf(id, { auth: 1 })
      const search = (q: string) =>
        Effect.map(
          call(`/dashboard/api/search?q=${encodeURIComponent(q)}`),
          (r) => (JSON.parse(r.text).results as Array<Json>).map((row) => row.id),
        )
      assert.deepEqual(yield* search("order-1"), ["order-1", "order-12"])
      assert.deepEqual(yield* search("order"), ["order-2", "order-12", "order-1"])
      assert.deepEqual(yield* search("missing"), [])
      assert.deepEqual(yield* search(""), [])
    }).pipe(Effect.provide(layer())),
)

effectTest(
  "Dashboard.handler enforces the bearer token: header, cookie, or ?token once",
  () =>
    Effect.gen(function* () {
      const token = { bearerToken: "s3cret" }
      const denied = yield* call("/dashboard/api/snapshot", {}, token)
      assert.equal(denied.status, 401)
      assert.match(denied.headers.get("www-authenticate") ?? "", /^Bearer/)
      assert.equal(
        (yield* call("/dashboard/", { headers: { authorization: "Bearer nope" } }, token)).status,
        401,
      )
      assert.equal((yield* call("/dashboard/?token=nope", {}, token)).status, 401)
      const redirect = yield* call("/dashboard/?token=s3cret", {}, token)
      assert.equal(redirect.status, 303)
      assert.equal(redirect.headers.get("location"), "/dashboard/")
      const cookie = redirect.headers.get("set-cookie") ?? ""
      assert.match(cookie, /^stagetrace_dashboard=s3cret; Path=\/dashboard; HttpOnly; SameSite=Strict$/)
      const page = yield* call(
        "/dashboard/",
        { headers: { cookie: "other=1; stagetrace_dashboard=s3cret" } },
        token,
      )
      assert.equal(page.status, 200)
      assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'sha256-[A-Za-z0-9+/=]+'/)
      assert.match(page.text, /<title>stagetrace dashboard<\/title>/)
      assert.doesNotMatch(page.text, /<script src=|<link rel="stylesheet"|https?:\/\/(?!www\.w3\.org)/)
      const api = yield* call(
        "/dashboard/api/snapshot",
        { headers: { authorization: "Bearer s3cret" } },
        token,
      )
      assert.equal(api.status, 200)
      assert.equal((yield* call("/dashboard/api/snapshot", { method: "POST" }, token)).status, 405)
      assert.equal((yield* call("/elsewhere", {}, token)).status, 404)
    }).pipe(Effect.provide(layer())),
)

effectTest("Dashboard.handler without the dashboard option fails naming it", () =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(Dashboard.handler())
    assert.equal(error._tag, "TelemetryConfigError")
    assert.equal(error.name, "dashboard")
  }).pipe(Effect.provide(Telemetry.layer())))

effectTest(
  "the dashboard refuses to serve a non-loopback address without a token, and bad options",
  () =>
    Effect.gen(function* () {
      const build = (dashboard: Dashboard.DashboardOptions | boolean) =>
        Layer.build(Telemetry.layer({ dashboard })).pipe(Effect.scoped, Effect.flip)
      const open = yield* build({ hostname: "0.0.0.0", port: 0 })
      assert.equal(open.name, "dashboard.bearerToken")
      assert.match(open.message, /0\.0\.0\.0, which is not a loopback address/)
      assert.equal((yield* build({ path: "no-slash" })).name, "dashboard.path")
      assert.equal((yield* build({ traceUrl: "http://jaeger/trace" })).name, "dashboard.traceUrl")
      assert.equal((yield* build({ bucket: "1500 millis" })).name, "dashboard.bucket")
      assert.equal((yield* build({ port: 70_000 })).name, "dashboard.port")
      assert.equal((yield* build({ bearerToken: "has space" })).name, "dashboard.bearerToken")
      assert.equal((yield* build({ buckets: 1 })).name, "dashboard.buckets")
      assert.equal((yield* build({ bufferSize: 10 })).name, "dashboard.bufferSize")
    }),
)

Deno.test("isLoopback() accepts 127.0.0.0/8, ::1 and localhost only", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.ok(isLoopback(host), host)
  }
  for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "128.0.0.1"]) {
    assert.ok(!isLoopback(host), host)
  }
})

effectTest(
  "Telemetry.optionsFromEnv reads the STAGETRACE_DASHBOARD variables",
  () =>
    Effect.gen(function* () {
      assert.deepEqual((yield* Telemetry.optionsFromEnv({ STAGETRACE_DASHBOARD: "true" })).dashboard, {})
      assert.equal((yield* Telemetry.optionsFromEnv({ STAGETRACE_DASHBOARD: "false" })).dashboard, false)
      assert.deepEqual(
        (yield* Telemetry.optionsFromEnv({
          STAGETRACE_DASHBOARD_PORT: "9000",
          STAGETRACE_DASHBOARD_HOSTNAME: "0.0.0.0",
          STAGETRACE_DASHBOARD_TOKEN: "tok",
        })).dashboard,
        { port: 9000, hostname: "0.0.0.0", bearerToken: "tok" },
      )
      const bad = yield* Effect.flip(Telemetry.optionsFromEnv({ STAGETRACE_DASHBOARD_PORT: "http" }))
      assert.equal(bad.name, "STAGETRACE_DASHBOARD_PORT")
    }),
)

Deno.test("SseHub drops a page that does not read, and counts it", async () => {
  let drops = 0
  const hub = new SseHub(2, 16 * 1024, () => drops++)
  const reader = hub.open(formatEvent("init", "{}"))!
  const stalled = hub.open(formatEvent("init", "{}"))!
  assert.equal(hub.open(formatEvent("init", "{}")), undefined, "at most maxConnections pages")
  const body = reader.response.body!.getReader()
  const event = formatEvent("tick", JSON.stringify({ pad: "x".repeat(6000) }))
  for (let i = 0; i < 5; i++) {
    hub.broadcast(event)
    // The reading page keeps up; the stalled one never reads its body.
    while (reader.room < 16 * 1024 - 100) await body.read()
  }
  assert.equal(drops, 1)
  assert.equal(hub.dropped, 1)
  assert.equal(stalled.closed, true)
  assert.equal(hub.size, 1)
  assert.equal(reader.closed, false)
  hub.closeAll()
  while (!(await body.read()).done) { /* drain */ }
  await stalled.response.body!.cancel().catch(() => {})
})

effectTest("the dashboard ticker sends events only while a page is open", () =>
  Effect.gen(function* () {
    yield* requestOf("r-1", { auth: 1 })
    const installed = (yield* CurrentRecorder).get(DashboardSlot)!
    const state = installed.state
    yield* TestClock.adjust("3 seconds")
    assert.equal(state.bytesSent, 0)
    const connection = state.hub.open(formatEvent("init", "{}"))!
    tick(state, 3000)
    assert.ok(state.bytesSent > 0)
    connection.close(false)
    yield* Effect.promise(() => connection.response.body!.cancel().catch(() => {}))
  }).pipe(Effect.provide(layer())))

liveTest(
  "Telemetry.layer({ dashboard: { port: 0 } }) serves the page, redirects / to it, and closes open streams on shutdown",
  () =>
    Effect.gen(function* () {
      const { url, status, redirect, first } = yield* Effect.scoped(
        Effect.gen(function* () {
          const address = (yield* Dashboard.serverAddress)!
          const page = yield* Effect.promise(() => fetch(address.url))
          yield* Effect.promise(() => page.body!.cancel())
          const root = yield* Effect.promise(() =>
            fetch(`http://127.0.0.1:${address.port}/`, { redirect: "manual" })
          )
          yield* Effect.promise(() => root.body?.cancel() ?? Promise.resolve())
          const events = yield* Effect.promise(() => fetch(`${address.url}events`))
          const reader = events.body!.getReader()
          const chunk = yield* Effect.promise(() => reader.read())
          // The stream stays open until the layer closes it.
          yield* Effect.addFinalizer(() => Effect.promise(() => reader.cancel().catch(() => {})))
          return {
            url: address.url,
            status: page.status,
            redirect: root.headers.get("location"),
            first: new TextDecoder().decode(chunk.value),
          }
        }).pipe(Effect.provide(Telemetry.layer({ dashboard: { port: 0 } }))),
      )
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/)
      assert.equal(status, 200)
      assert.equal(redirect, "/dashboard/")
      assert.match(first, /^retry: 1000\n\nevent: init\ndata: \{"type":"init"/)
    }),
)

const compareDir = Deno.makeTempDirSync({ prefix: "stagetrace-dashboard-compare-" })
globalThis.addEventListener("unload", () => Deno.removeSync(compareDir, { recursive: true }))

effectTest(
  "Dashboard compares the requests in memory with the previous version of the JSONL logs",
  () =>
    Effect.gen(function* () {
      const dir = compareDir
      const line = (i: number, authMs: number) =>
        JSON.stringify({
          schema: "stagetrace.summary.v1",
          timestamp: new Date(i).toISOString(),
          service: { name: "chat", version: "0.9.0" },
          requestId: `old-${i}`,
          name: "chat",
          traceId: "t",
          spanId: "s",
          startTime: i + 1,
          durationMs: authMs + 20,
          success: true,
          status: "ok",
          stageCount: 2,
          bottlenecks: [],
          attributes: {},
          truncated: false,
          overBudget: false,
          sampled: true,
          stages: [
            {
              stageId: "auth",
              name: "auth",
              startOffsetMs: 0,
              durationMs: authMs,
              success: true,
              status: "ok",
              metadata: {},
              substages: [],
            },
            {
              stageId: "llm",
              name: "llm",
              startOffsetMs: authMs,
              durationMs: 20,
              success: true,
              status: "ok",
              metadata: {},
              substages: [],
            },
          ],
        })
      const lines = Array.from({ length: 200 }, (_, i) => line(i, 2 + (i % 10) / 10))
      yield* Effect.promise(() => Deno.writeTextFile(`${dir}/perf.jsonl`, lines.join("\n") + "\n"))
      for (let i = 0; i < 200; i++) yield* requestOf(`new-${i}`, { auth: 4 + (i % 10) / 10, llm: 20 })
      const response = yield* call("/dashboard/api/compare")
      assert.equal(response.status, 200)
      const { comparison } = JSON.parse(response.text) as Json
      assert.equal(comparison.before.label, "version 0.9.0")
      assert.deepEqual(comparison.slower, ["auth"])
      assert.deepEqual(comparison.faster, [])
    }).pipe(
      Effect.provide(
        layer({ serviceVersion: "1.0.0", dashboard: { serve: false, compareWith: compareDir } }),
      ),
    ),
)
