/**
 * What the live dashboard costs a request, in one `deno bench` run: a 10-stage request under
 * `Telemetry.layer()` (the baseline) against the same request under `Telemetry.layer({ dashboard })` with
 * one page open (an event stream read continuously, one update every 250 ms, so the ticker's JSON work
 * lands between iterations as it would between requests). The goal: at most 1.05×.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { CurrentRecorder, type Recorder } from "../src/internal/recorder.ts"
import { Dashboard, Request, Stage, Telemetry } from "../mod.ts"

const recorderOf = (runtime: ManagedRuntime.ManagedRuntime<never, unknown>): Promise<Recorder> =>
  runtime.runPromise(Effect.gen(function* () {
    return yield* CurrentRecorder
  }))

const plain = ManagedRuntime.make(Telemetry.layer({ serviceName: "bench" }))
const withDashboard = ManagedRuntime.make(
  Telemetry.layer({ serviceName: "bench", dashboard: { port: 0, interval: "250 millis", bucket: "1 second" } }),
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

Deno.bench("Request.track with 10 × Stage.track", { group: "dashboard", baseline: true, n: 20_000, warmup: 5_000 }, () => {
  Effect.runSync(plainRequest)
})
Deno.bench("the same with the dashboard on and one page open", { group: "dashboard", n: 20_000, warmup: 5_000 }, () => {
  Effect.runSync(dashboardRequest)
})

globalThis.addEventListener("unload", () => {
  if (received === 0) console.error("dashboard bench: the page received nothing")
  reader.cancel().catch(() => {})
  void reading
})
