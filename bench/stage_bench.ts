/**
 * Stage overhead against Effect's own spans (default native tracer), in one `deno bench` run:
 *
 * - `stage`: 100 stages inside one request against 100 bare `Effect.withSpan` inside one span;
 * - `request`: a 10-stage request against 10 bare `Effect.withSpan`;
 * - `memory`: the same 10-stage request with each stage's heap delta measured (`memory: true`, or the
 *   layer-wide `stageMemory`) against it without (the default, which must cost nothing).
 *
 * Statistics are included (every stage feeds its sketch), and so is every concern `Telemetry.layer`
 * installs by default (metrics: the stage duration histogram, the request counter and histogram): the
 * recorder is the one of a `Telemetry.layer`.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { CurrentRecorder } from "../src/internal/recorder.ts"
import { Request, Stage, Telemetry } from "../mod.ts"

const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "bench" }))
const recorder = await runtime.runPromise(Effect.gen(function* () {
  return yield* CurrentRecorder
}))
const withRecorder = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.provideService(self, CurrentRecorder, recorder)

const work = Effect.sync(() => 1)
const stageIds = Array.from({ length: 10 }, (_, i) => `stage_${i}`)

// --- 100 stages per run -----------------------------------------------------------------------------------
const bareSpan = work.pipe(Effect.withSpan("stage_0"))
const trackedStage = work.pipe(Stage.track("stage_0"))
const hundredBare = Effect.gen(function* () {
  for (let i = 0; i < 100; i++) yield* bareSpan
}).pipe(Effect.withSpan("request"))
const hundredStages = withRecorder(
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) yield* trackedStage
  }).pipe(Request.track("request", { requestId: "bench" })),
)

Deno.bench("100 × Effect.withSpan", { group: "stage", baseline: true }, () => {
  Effect.runSync(hundredBare)
})
Deno.bench("100 × Stage.track in Request.track", { group: "stage" }, () => {
  Effect.runSync(hundredStages)
})

// --- a 10-stage request -----------------------------------------------------------------------------------
const tenBareSpans = stageIds.map((id) => work.pipe(Effect.withSpan(id)))
const tenStages = stageIds.map((id) => work.pipe(Stage.track(id)))
const tenBare = Effect.gen(function* () {
  for (const span of tenBareSpans) yield* span
})
const tenStageRequest = withRecorder(
  Effect.gen(function* () {
    for (const stage of tenStages) yield* stage
  }).pipe(Request.track("request", { requestId: "bench" })),
)

Deno.bench("10 × Effect.withSpan", { group: "request", baseline: true }, () => {
  Effect.runSync(tenBare)
})
Deno.bench("Request.track with 10 × Stage.track", { group: "request" }, () => {
  Effect.runSync(tenStageRequest)
})

// --- heap deltas ------------------------------------------------------------------------------------------
const memoryRuntime = ManagedRuntime.make(Telemetry.layer({ serviceName: "bench", stageMemory: true }))
const memoryRecorder = await memoryRuntime.runPromise(CurrentRecorder)
const measuredStages = stageIds.map((id) => work.pipe(Stage.track(id, { memory: true })))
const measuredRequest = withRecorder(
  Effect.gen(function* () {
    for (const stage of measuredStages) yield* stage
  }).pipe(Request.track("request", { requestId: "bench" })),
)
const layerWideRequest = Effect.gen(function* () {
  for (const stage of tenStages) yield* stage
}).pipe(
  Request.track("request", { requestId: "bench" }),
  Effect.provideService(CurrentRecorder, memoryRecorder),
)

Deno.bench("Request.track with 10 × Stage.track (memory off, the default)", {
  group: "memory",
  baseline: true,
}, () => {
  Effect.runSync(tenStageRequest)
})
Deno.bench("same, 10 × Stage.track(id, { memory: true })", { group: "memory" }, () => {
  Effect.runSync(measuredRequest)
})
Deno.bench("same, Telemetry.layer({ stageMemory: true })", { group: "memory" }, () => {
  Effect.runSync(layerWideRequest)
})
