import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import { Request, Stage, Summaries, Telemetry } from "../../mod.ts"
import { effectTest, runFor } from "../_harness.ts"

effectTest(
  "Summaries.waterfall() places bars by offset and duration and marks failures",
  () =>
    Effect.gen(function* () {
      const summary = yield* runFor(
        Effect.gen(function* () {
          yield* Effect.sleep("25 millis").pipe(Stage.track("auth_check"))
          yield* Effect.gen(function* () {
            yield* Effect.sleep("25 millis").pipe(Stage.track("kb_search"))
          }).pipe(Stage.track("kb_access"))
          yield* Effect.exit(
            Effect.sleep("50 millis").pipe(
              Effect.andThen(Effect.fail(new Error("quota"))),
              Stage.track("llm"),
            ),
          )
          return yield* Request.summary
        }).pipe(Request.track("chat", { requestId: "r-9" })),
        "1 second",
      )
      const lines = Summaries.waterfall(summary, { width: 20 }).split("\n")
      assert.match(lines[0]!, /^chat {2}r-9 {2}100\.0 ms {2}ok/)
      assert.equal(lines[1], "  auth_check    │█████               │   25.0 ms")
      assert.equal(lines[2], "  kb_access     │     █████          │   25.0 ms")
      assert.equal(lines[3], "    kb_search   │     █████          │   25.0 ms")
      assert.equal(
        lines[4],
        "  llm           │          ██████████│   50.0 ms  error: Error [resource] (quota)",
      )
      assert.equal(lines[5], "  bottlenecks: llm 50%")
    }).pipe(Effect.provide(Telemetry.layer())),
)

effectTest(
  "Summaries.waterfall() handles recorded stages that started before their request",
  () =>
    Effect.gen(function* () {
      const summary = yield* Effect.gen(function* () {
        yield* Stage.record("queued", { durationMs: 40 })
        return yield* Request.summary
      }).pipe(Request.track("job"))
      assert.equal(summary.stages[0]?.startOffsetMs, -40)
      const lines = Summaries.waterfall(summary, { width: 10 }).split("\n")
      assert.equal(lines[1], "  queued        │██████████│   40.0 ms")
    }).pipe(Effect.provide(Telemetry.layer())),
)
