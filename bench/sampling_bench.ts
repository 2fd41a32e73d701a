/**
 * Sampling overhead, in one `deno bench` run (statistics included: every stage feeds its sketch):
 *
 * - `request at 1%`: a 10-stage request under `Telemetry.layer({ sampleRate: 0.01 })` — head decision,
 *   tail-sampling tracer, tail buffer, tail decision — against 10 bare `Effect.withSpan` (default native
 *   tracer). Rows at rate 1 (every request head-sampled: spans end at once) and under `Sampler.alwaysOff`
 *   (every request buffered then dropped) bound the cost from both sides.
 * - `kill switch`: 100 stages with the kill switch on against the same 100 effects with no stage at all,
 *   for the environment switch (`STAGETRACE_ENABLED=false`, read when stagetrace loads: wrappers are not
 *   built at all) and for `Telemetry.layer({ enabled: false })` (checked each time a stage runs).
 * - `decision`: one head decision by trace id and by request id (FNV-1a), against reading the trace id.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { setDisabledByEnvironment } from "../src/internal/killSwitch.ts"
import { Request, Sampler, Stage, Telemetry } from "../mod.ts"

const contextOf = (layer: Layer.Layer<never, unknown>): Context.Context<never> =>
  Effect.runSync(Layer.build(layer).pipe(Effect.scoped) as Effect.Effect<Context.Context<never>>)

const work = Effect.sync(() => 1)
const stageIds = Array.from({ length: 10 }, (_, i) => `stage_${i}`)

// --- a 10-stage request -----------------------------------------------------------------------------------
const tenBareSpans = stageIds.map((id) => work.pipe(Effect.withSpan(id)))
const tenBare = Effect.gen(function* () {
  for (const span of tenBareSpans) yield* span
})
const tenStages = stageIds.map((id) => work.pipe(Stage.track(id)))
const tenStageRequest = Effect.gen(function* () {
  for (const stage of tenStages) yield* stage
}).pipe(Request.track("request", { requestId: "bench" }))

const atOnePercent = tenStageRequest.pipe(
  Effect.provideContext(contextOf(Telemetry.layer({ sampleRate: 0.01 }))),
)
const atOne = tenStageRequest.pipe(Effect.provideContext(contextOf(Telemetry.layer({ sampleRate: 1 }))))
const allBuffered = tenStageRequest.pipe(
  Effect.provideContext(contextOf(Telemetry.layer({ sampler: Sampler.alwaysOff }))),
)

Deno.bench("10 × Effect.withSpan", { group: "request at 1%", baseline: true }, () => {
  Effect.runSync(tenBare)
})
Deno.bench("Request.track + 10 × Stage.track, sampleRate 0.01", { group: "request at 1%" }, () => {
  Effect.runSync(atOnePercent)
})
Deno.bench("Request.track + 10 × Stage.track, sampleRate 1", { group: "request at 1%" }, () => {
  Effect.runSync(atOne)
})
Deno.bench("Request.track + 10 × Stage.track, alwaysOff (all buffered)", { group: "request at 1%" }, () => {
  Effect.runSync(allBuffered)
})

// --- kill switch ------------------------------------------------------------------------------------------
const hundred = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) yield* effect
  })

const plain = hundred(work)
setDisabledByEnvironment(true)
const killedByEnvironment = hundred(work.pipe(Stage.track("stage_0")))
setDisabledByEnvironment(false)
const killedByLayer = hundred(work.pipe(Stage.track("stage_0"))).pipe(
  Effect.provideContext(contextOf(Telemetry.layer({ enabled: false }))),
)

Deno.bench("100 × effect, no stage", { group: "kill switch", baseline: true }, () => {
  Effect.runSync(plain)
})
Deno.bench("100 × Stage.track, STAGETRACE_ENABLED=false", { group: "kill switch" }, () => {
  Effect.runSync(killedByEnvironment)
})
Deno.bench("100 × Stage.track, Telemetry.layer({ enabled: false })", { group: "kill switch" }, () => {
  Effect.runSync(killedByLayer)
})

// --- one head decision ------------------------------------------------------------------------------------
const traceIds = Array.from({ length: 1024 }, () => crypto.randomUUID().replaceAll("-", ""))
const requestIds = Array.from({ length: 1024 }, () => crypto.randomUUID())
const byTraceId = Sampler.parentBased(Sampler.consistentRatio(0.01))
const byRequestId = Sampler.parentBased(Sampler.consistentRatio(0.01, { by: "requestId" }))
let i = 0
let sink = 0

Deno.bench("read the trace id", { group: "decision", baseline: true }, () => {
  sink += traceIds[i++ & 1023]!.length
})
Deno.bench("consistentRatio(0.01) by trace id", { group: "decision" }, () => {
  const n = i++ & 1023
  if (byTraceId.shouldSample({ name: "request", traceId: traceIds[n]! }).sampled) sink++
})
Deno.bench("consistentRatio(0.01) by request id (FNV-1a)", { group: "decision" }, () => {
  const n = i++ & 1023
  if (
    byRequestId.shouldSample({ name: "request", traceId: traceIds[n]!, requestId: requestIds[n]! }).sampled
  ) {
    sink++
  }
})
globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink)
})
