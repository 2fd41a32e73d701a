/**
 * What the live dashboard costs a request, in one `deno bench` run: a 10-stage request under
 * `Telemetry.layer()` (the baseline) against the same request under `Telemetry.layer({ dashboard })` with
 * one page open (an event stream read continuously, one update every 250 ms, so the ticker's JSON work
 * lands between iterations as it would between requests). The goal: at most 1.05×.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { CurrentRecorder, type Recorder } from "../src/internal/recorder.ts"
import { DashboardSlot } from "../src/dashboard/internal/concern.ts"
import { Dashboard, Request, Stage, Telemetry } from "../mod.ts"

const recorderOf = (runtime: ManagedRuntime.ManagedRuntime<never, unknown>): Promise<Recorder> =>
  runtime.runPromise(Effect.gen(function* () {
    return yield* CurrentRecorder
  }))

const plain = ManagedRuntime.make(Telemetry.layer({ serviceName: "bench" }))
const withDashboard = ManagedRuntime.make(
  Telemetry.layer({
    serviceName: "bench",
    dashboard: { port: 0, interval: "250 millis", bucket: "1 second" },
  }),
)
const plainRecorder = await recorderOf(plain)
const dashboardRecorder = await recorderOf(withDashboard)

// One page open: read the event stream for as long as the bench runs.
const address = await withDashboard.runPromise(Dashboard.serverAddress)
const events = await fetch(`${address!.url}events`)
const reader = events.body!.getReader()
let received = 0
const reading = (async () => {
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    received += value.length
  }
})()

const work = Effect.sync(() => 1)
const stages = Array.from({ length: 10 }, (_, i) => work.pipe(Stage.track(`stage_${i}`)))
const request = Effect.gen(function* () {
  for (const stage of stages) yield* stage
}).pipe(Request.track("request", { requestId: "bench" }))
const plainRequest = Effect.provideService(request, CurrentRecorder, plainRecorder)
const dashboardRequest = Effect.provideService(request, CurrentRecorder, dashboardRecorder)

// Both requests are warmed up together before either bench runs: otherwise whichever bench runs first pays
// for the JIT's warm-up (≈ 5% at p75 when the two were swapped).
for (let i = 0; i < 20_000; i++) {
  Effect.runSync(plainRequest)
  Effect.runSync(dashboardRequest)
}

Deno.bench("the same with the dashboard on and one page open", {
  group: "dashboard",
  n: 20_000,
  warmup: 5_000,
}, () => {
  Effect.runSync(dashboardRequest)
})

Deno.bench("Request.track with 10 × Stage.track", {
  group: "dashboard",
  baseline: true,
  n: 20_000,
  warmup: 5_000,
}, () => {
  Effect.runSync(plainRequest)
})

// What the dashboard adds per request, alone: its summary hook on a finished 10-stage request.
const installed = dashboardRecorder.get(DashboardSlot)!
const summary = Effect.runSync(
  Effect.gen(function* () {
    for (const stage of stages) yield* stage
    return yield* Request.summary
  }).pipe(
    Request.track("request", { requestId: "bench" }),
    Effect.provideService(CurrentRecorder, plainRecorder),
  ),
)
Deno.bench("the dashboard's summary hook alone", { group: "hook", n: 200_000, warmup: 20_000 }, () => {
  installed.state.onSummary(summary)
})
Deno.bench(
  "Request.track with 10 × Stage.track",
  { group: "hook", baseline: true, n: 20_000, warmup: 5_000 },
  () => {
    Effect.runSync(plainRequest)
  },
)

globalThis.addEventListener("unload", () => {
  if (received === 0) console.error("dashboard bench: the page received nothing")
  reader.cancel().catch(() => {})
  void reading
})
