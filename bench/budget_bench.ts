/**
 * Cost of the budget and error concerns on the stage hot path, in one `deno bench` run. Each group runs
 * the same request of 100 stages against a bare recorder (no concern installed: the baseline) and
 * against the recorder of `Telemetry.layer` (budgets, errors, health installed):
 *
 * - `no budget`: stages without a budget that succeed — the concerns must cost nothing measurable;
 * - `budget met`: every stage has a budget it meets (the stage is marked `budgetMs`/`overBudget: false`);
 * - `budget exceeded`: every stage breaks its budget (event, window, counter, warning written in the
 *   background before the iteration ends);
 * - `failure`: every stage fails (classification, span attributes, window, counter, alert check);
 * - `hooks`: the stage-end hooks alone for a stage without budget that succeeded, against an empty loop
 *   (the cost the concerns add to every such stage, isolated from the noise of a whole request);
 * - `classify`: `Errors.classify` alone, by tag rule, by status code, by message pattern.
 *
 * The machine these run on is shared: compare ratios within one run, and prefer the `min` and `p75`
 * columns to the averages.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { Errors, Request, Stage, Telemetry } from "../mod.ts"
import { CurrentRecorder, defaultRecorderConfig, Recorder, type StageNode } from "../src/internal/recorder.ts"

// A bare recorder, as without concerns…
const bare = new Recorder(defaultRecorderConfig)
// …and recorders of telemetry layers with every concern of this area installed (logs discarded). The
// layers stay open for the whole run.
let logged = 0
const quiet = Logger.layer([Logger.make(() => void logged++)])
const scope = Effect.runSync(Scope.make())
const recorderOf = (options: Telemetry.TelemetryOptions): Promise<Recorder> =>
  Effect.runPromise(
    Effect.map(
      Layer.buildWithScope(Telemetry.layer(options).pipe(Layer.provide(quiet)), scope),
      (context) => Context.get(context, CurrentRecorder),
    ),
  )
const installed = await recorderOf({ budgets: { some_other_stage: "1 second" }, alerts: false })
const unlimited = await recorderOf({ alerts: false })

const on = (recorder: Recorder) => <A, E>(self: Effect.Effect<A, E>) =>
  Effect.provideService(self, CurrentRecorder, recorder)

const hundred = (stage: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) yield* Effect.ignore(stage)
  }).pipe(Request.track("request", { requestId: "bench" }))

const work = Effect.sync(() => 1)

// --- warm-up (the first bench of a file runs on a cold JIT; keep it out of the comparisons) -----------------
Deno.bench("warm-up: 100 stages, both recorders", { group: "warm-up", baseline: true }, () => {
  Effect.runSync(on(bare)(hundred(work.pipe(Stage.track("stage_0")))))
  Effect.runSync(on(installed)(hundred(work.pipe(Stage.track("stage_0")))))
})

// --- no budget, success ------------------------------------------------------------------------------------
const plain = hundred(work.pipe(Stage.track("stage_0")))
const plainBare = on(bare)(plain)
const plainInstalled = on(installed)(plain)
const plainNoTable = on(unlimited)(plain)

Deno.bench("100 stages, no concern", { group: "no budget", baseline: true }, () => {
  Effect.runSync(plainBare)
})
Deno.bench("100 stages, budgets + errors installed, empty table", { group: "no budget" }, () => {
  Effect.runSync(plainNoTable)
})
Deno.bench("100 stages, budgets + errors installed, table without them", { group: "no budget" }, () => {
  Effect.runSync(plainInstalled)
})

// --- budget met --------------------------------------------------------------------------------------------
const met = hundred(work.pipe(Stage.track("stage_0", { budget: "1 hour" })))
const metBare = on(bare)(met)
const metInstalled = on(installed)(met)

Deno.bench("100 stages with a budget, no concern", { group: "budget met", baseline: true }, () => {
  Effect.runSync(metBare)
})
Deno.bench("100 stages meeting their budget", { group: "budget met" }, () => {
  Effect.runSync(metInstalled)
})

// --- budget exceeded (recorded stages of 20 ms against 10 ms) ------------------------------------------------
// Each violation queues a warning for a background fiber. Deno.bench gives the event loop no turn during a
// synchronous bench, so the writer would never run and warnings past the queue would be dropped: the
// installed bench waits until its 100 warnings were written (the baseline waits one turn too).
const over = hundred(Stage.record("stage_0", { durationMs: 20, budget: "10 millis" }))
const overBare = on(bare)(over)
const overInstalled = on(installed)(over)
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

Deno.bench("100 recorded stages, no concern", { group: "budget exceeded", baseline: true }, async () => {
  Effect.runSync(overBare)
  await turn()
})
Deno.bench("100 recorded stages over budget (warnings written)", { group: "budget exceeded" }, async () => {
  const expected = logged + 100
  Effect.runSync(overInstalled)
  for (let turns = 0; logged < expected; turns++) {
    if (turns > 10_000) throw new Error(`budget warnings were lost: ${expected - logged} missing`)
    await turn()
  }
})

// --- failures ----------------------------------------------------------------------------------------------
class Upstream extends Data.TaggedError("Upstream")<{ readonly status: number }> {}
const failing = hundred(Effect.fail(new Upstream({ status: 503 })).pipe(Stage.track("stage_0")))
const failingBare = on(bare)(failing)
const failingInstalled = on(installed)(failing)

Deno.bench("100 failing stages, no concern", { group: "failure", baseline: true }, () => {
  Effect.runSync(failingBare)
})
Deno.bench("100 failing stages, classified and counted", { group: "failure" }, () => {
  Effect.runSync(failingInstalled)
})

// --- the hooks alone ---------------------------------------------------------------------------------------
const hooks = installed.stageEnd
const success = Exit.void
const node = {
  _tag: "Stage",
  exec: { stageId: "stage_0", name: "stage_0", startOffsetMs: 0, durationMs: 1, success: true, status: "ok" },
  // What a stage's spec caches for the end hooks (`StageHandles`), empty until the first end fills it.
  handles: { statsStore: undefined, statsEntry: undefined, seriesOwner: undefined, okSeries: undefined },
  request: undefined,
  parent: undefined,
  budgetMs: undefined,
} as unknown as StageNode
let sink = 0
const noHooks: Array<(n: StageNode) => void> = []

Deno.bench("1000 stage ends, no hook", { group: "hooks", baseline: true }, () => {
  for (let i = 0; i < 1000; i++) {
    for (let h = 0; h < noHooks.length; h++) noHooks[h]!(node)
    sink += i
  }
})
Deno.bench(`1000 stage ends through the ${hooks.length} installed hooks`, { group: "hooks" }, () => {
  for (let i = 0; i < 1000; i++) {
    for (let h = 0; h < hooks.length; h++) hooks[h]!(node, success, 1)
    sink += i
  }
})

// --- classification alone ----------------------------------------------------------------------------------
const rules = Errors.rules<Upstream>({ tags: { Upstream: "transient" } })
const tagged = Cause.fail(new Upstream({ status: 503 }))
const byStatus = Cause.fail({ status: 503 })
const byMessage = Cause.fail(new Error("upstream connection reset"))
const unknown = Cause.fail(new Error("something odd"))

Deno.bench("Errors.classify by tag rule", { group: "classify", baseline: true }, () => {
  Errors.classify(tagged, rules)
})
Deno.bench("Errors.classify by status code", { group: "classify" }, () => {
  Errors.classify(byStatus)
})
Deno.bench("Errors.classify by message pattern", { group: "classify" }, () => {
  Errors.classify(byMessage)
})
Deno.bench("Errors.classify, nothing matches", { group: "classify" }, () => {
  Errors.classify(unknown)
})
