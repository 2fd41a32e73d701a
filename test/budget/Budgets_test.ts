import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { TestClock } from "effect/testing"
import { Budgets, MetricCatalogue, Prometheus, Request, Stage, Summaries, Telemetry } from "../../mod.ts"
import * as BackgroundLog from "../../src/internal/backgroundLog.ts"
import { CurrentRecorder, defaultRecorderConfig, Recorder } from "../../src/internal/recorder.ts"
import { BudgetsSlot } from "../../src/budget/internal/state.ts"
import { effectTest, runFor } from "../_harness.ts"
import { captureLogs, counterValue } from "../errors/_support.ts"
import { eventsOf, recordSpans } from "../_spans.ts"

const lastSummary = Effect.map(Summaries.recent(1), (s) => s[0]!)

effectTest(
  "Stage.track() over its own budget marks the stage, the request and the span",
  () =>
    Effect.gen(function* () {
      const tracer = recordSpans()
      const summary = yield* runFor(
        Effect.gen(function* () {
          yield* Effect.sleep("25 millis").pipe(Stage.track("kb_access", { budget: "10 millis" }))
          yield* Effect.sleep("1 millis").pipe(Stage.track("format", { budget: "10 millis" }))
        }).pipe(Request.track("chat", { requestId: "r-1" }), Effect.andThen(lastSummary)),
        "30 millis",
      ).pipe(Effect.provide(Telemetry.layer()), Effect.provide(tracer.layer))

      const [kb, format] = summary.stages
      assert.equal(kb?.budgetMs, 10)
      assert.equal(kb?.overBudget, true)
      assert.equal(format?.budgetMs, 10)
      assert.equal(format?.overBudget, false)
      assert.equal(summary.overBudget, true)

      const span = tracer.spans.find((s) => s.name === "kb_access")!
      const events = eventsOf(span).filter(([name]) => name === "budget.exceeded")
      assert.equal(events.length, 1)
      assert.deepEqual(events[0]![2], {
        "stage.id": "kb_access",
        "request.id": "r-1",
        "budget.ms": 10,
        "budget.actual_ms": 25,
        "budget.overage_ms": 15,
        "budget.overage_percent": 150,
      })
      assert.equal(span.attributes.get("stagetrace.over_budget"), true)
      const formatSpan = tracer.spans.find((s) => s.name === "format")!
      assert.equal(eventsOf(formatSpan).length, 0)
    }),
)

effectTest("Stage.track() without a budget leaves the stage untouched", () =>
  Effect.gen(function* () {
    const summary = yield* runFor(
      Effect.sleep("5 millis").pipe(
        Stage.track("auth_check"),
        Request.track("chat"),
        Effect.andThen(lastSummary),
      ),
      "5 millis",
    ).pipe(Effect.provide(Telemetry.layer({ budgets: { other: "1 millis" } })))
    assert.equal(summary.stages[0]?.budgetMs, undefined)
    assert.equal(summary.stages[0]?.overBudget, undefined)
    assert.equal(summary.overBudget, false)
    assert.equal(summary.budgetMs, undefined)
  }))

effectTest(
  "Telemetry.layer({ budgets }) applies to stage ids and request names; the explicit option wins",
  () =>
    Effect.gen(function* () {
      const program = Effect.gen(function* () {
        yield* Stage.record("auth_check", { durationMs: 2 })
        yield* Stage.record("kb_access", { durationMs: 1500, budget: "1 second" })
        yield* Stage.record("llm", { durationMs: 900 })
      }).pipe(Request.track("chat"))
      const summary = yield* runFor(Effect.andThen(program, lastSummary), "0 millis").pipe(
        Effect.provide(
          Telemetry.layer({ budgets: { auth_check: "1 millis", kb_access: "2 seconds", chat: "3 seconds" } }),
        ),
      )
      const [auth, kb, llm] = summary.stages
      assert.deepEqual([auth?.budgetMs, auth?.overBudget], [1, true])
      assert.deepEqual(
        [kb?.budgetMs, kb?.overBudget],
        [1000, true],
        "the stage's own budget wins over the table",
      )
      assert.deepEqual([llm?.budgetMs, llm?.overBudget], [undefined, undefined])
      assert.equal(summary.budgetMs, 3000, "the table entry for the request name applies to the request")
      assert.equal(summary.overBudget, true)
    }),
)

effectTest(
  "Request.track() over its budget records a violation under the request name",
  () =>
    Effect.gen(function* () {
      const tracer = recordSpans()
      const result = yield* runFor(
        Effect.gen(function* () {
          yield* Effect.sleep("4 seconds").pipe(
            Request.track("chat", { budget: "3 seconds", requestId: "r-9" }),
          )
          return {
            summary: yield* lastSummary,
            budgets: yield* Budgets.summary({ window: "1 minute" }),
            counted: yield* counterValue("stagetrace_budget_violations_total", { stage: "chat" }),
          }
        }),
        "4 seconds",
      ).pipe(Effect.provide(Telemetry.layer()), Effect.provide(tracer.layer))
      assert.equal(result.summary.budgetMs, 3000)
      assert.equal(result.summary.overBudget, true)
      assert.deepEqual(result.budgets.byStage["chat"], {
        count: 1,
        avgOverageMs: 1000,
        maxOverageMs: 1000,
        avgOveragePercent: (1000 / 3000) * 100,
      })
      assert.equal(result.counted, 1)
      const span = tracer.spans.find((s) => s.name === "chat")!
      const [event] = eventsOf(span)
      assert.equal(event?.[0], "budget.exceeded")
      assert.equal(event?.[2]["request.id"], "r-9")
      assert.equal(event?.[2]["budget.overage_ms"], 1000)
    }),
)

effectTest(
  "a budget violation counts stagetrace_budget_violations_total{stage} and logs a warning",
  () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      yield* Effect.gen(function* () {
        yield* Stage.record("kb_access", { durationMs: 30, budget: "20 millis" }).pipe(Request.track("chat"))
        yield* Stage.record("kb_access", { durationMs: 50, budget: "20 millis" })
        assert.equal(yield* counterValue("stagetrace_budget_violations_total", { stage: "kb_access" }), 2)
      }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(logs.layer))
      // Logged by the background fiber; closing the layer writes whatever is still queued.
      const warnings = logs.lines.filter((l) => l.level === "Warn")
      assert.equal(warnings.length, 2)
      assert.match(warnings[0]!.message, /kb_access took 30 ms, budget 20 ms \(\+50%\)/)
      assert.equal(warnings[0]!.annotations["budget.overage_ms"], 10)
      assert.equal(typeof warnings[0]!.annotations["request.id"], "string")
      assert.equal(
        warnings[1]!.annotations["request.id"],
        undefined,
        "outside a request there is no request id",
      )
    }),
)

effectTest(
  "Budgets.summary() aggregates per stage and violations age out of the window",
  () =>
    Effect.gen(function* () {
      const layer = Telemetry.layer({ budgets: { kb_access: "100 millis", auth: "1 millis" } })
      yield* Effect.gen(function* () {
        yield* Stage.record("kb_access", { durationMs: 150 })
        yield* Stage.record("kb_access", { durationMs: 300 })
        yield* Stage.record("kb_access", { durationMs: 90 })
        yield* Stage.record("auth", { durationMs: 3 })
        const now = yield* Budgets.summary({ window: "1 minute" })
        assert.equal(now.status, "budget_violations_detected")
        assert.equal(now.totalViolations, 3)
        assert.equal(now.windowMs, 60_000)
        assert.deepEqual(now.byStage["kb_access"], {
          count: 2,
          avgOverageMs: 125,
          maxOverageMs: 200,
          avgOveragePercent: 125,
        })
        assert.deepEqual(now.byStage["auth"], {
          count: 1,
          avgOverageMs: 2,
          maxOverageMs: 2,
          avgOveragePercent: 200,
        })

        yield* TestClock.adjust("2 minutes")
        yield* Stage.record("auth", { durationMs: 2 })
        const later = yield* Budgets.summary({ window: "1 minute" })
        assert.equal(later.totalViolations, 1, "the first three aged out of the one-minute window")
        assert.deepEqual(Object.keys(later.byStage), ["auth"])
        assert.equal((yield* Budgets.summary({ window: "1 hour" })).totalViolations, 4)

        yield* TestClock.adjust("25 hours")
        const gone = yield* Budgets.summary()
        assert.equal(gone.status, "all_budgets_met")
        assert.equal(gone.totalViolations, 0)
        assert.equal(gone.windowMs, 86_400_000)
      }).pipe(Effect.provide(layer))
    }),
)

effectTest(
  "Budgets.summary() without the telemetry layer reports all budgets met",
  () =>
    Effect.gen(function* () {
      const summary = yield* Budgets.summary().pipe(
        Effect.provideService(CurrentRecorder, new Recorder(defaultRecorderConfig)),
      )
      assert.deepEqual(summary, {
        status: "all_budgets_met",
        totalViolations: 0,
        windowMs: 86_400_000,
        byStage: {},
      })
    }),
)

effectTest("Budgets.budgetFor() reads the table", () =>
  Effect.gen(function* () {
    const [kb, none] = yield* Effect.all([Budgets.budgetFor("kb_access"), Budgets.budgetFor("nope")]).pipe(
      Effect.provide(Telemetry.layer({ budgets: { kb_access: "2 seconds" } })),
    )
    assert.equal(kb, 2000)
    assert.equal(none, undefined)
  }))

effectTest(
  "Telemetry.layer({ budgets }) rejects a bad duration with TelemetryConfigError",
  () =>
    Effect.gen(function* () {
      for (const bad of ["soon", 0, -5, "Infinity"] as const) {
        const error = yield* Layer.build(Telemetry.layer({ budgets: { kb_access: bad as never } })).pipe(
          Effect.scoped,
          Effect.flip,
        )
        assert.equal(error._tag, "TelemetryConfigError")
        assert.equal(error.name, "budgets.kb_access")
        assert.deepEqual(error.value, bad)
      }
    }),
)

effectTest("Telemetry.layerFromEnv() reads STAGETRACE_BUDGETS", () =>
  Effect.gen(function* () {
    const env = { STAGETRACE_BUDGETS: "auth_check=1ms, kb_access=2 seconds,chat=3s,llm=250" }
    const table = yield* Effect.all([
      Budgets.budgetFor("auth_check"),
      Budgets.budgetFor("kb_access"),
      Budgets.budgetFor("chat"),
      Budgets.budgetFor("llm"),
    ]).pipe(Effect.provide(Telemetry.layerFromEnv({ env })))
    assert.deepEqual(table, [1, 2000, 3000, 250])

    const error = yield* Layer.build(Telemetry.layerFromEnv({ env: { STAGETRACE_BUDGETS: "kb=fast" } })).pipe(
      Effect.scoped,
      Effect.flip,
    )
    assert.equal(error.name, "STAGETRACE_BUDGETS")
    assert.match(error.message, /kb/)
    assert.ok(Telemetry.environmentVariables.includes("STAGETRACE_BUDGETS"))
  }))

effectTest("a zero budget on a stage is ignored and counted as a drop", () =>
  Effect.gen(function* () {
    const recorder = yield* Effect.gen(function* () {
      yield* Stage.record("x", { durationMs: 5, budget: 0 })
      return yield* CurrentRecorder
    }).pipe(Effect.provide(Telemetry.layer()))
    assert.equal(recorder.drops.get("invalid_budget"), 1)
    assert.equal(recorder.get(BudgetsSlot)?.total, 0)
  }))

effectTest("100k violations keep the budget window bounded", () =>
  Effect.gen(function* () {
    const recorder = yield* Effect.gen(function* () {
      const stage = Stage.record("kb_access", { durationMs: 20, budget: "10 millis" })
      for (let i = 0; i < 100_000; i++) {
        yield* stage
        if (i % 1000 === 0) yield* TestClock.adjust("7 seconds")
      }
      return yield* CurrentRecorder
    }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(captureLogs().layer))
    const state = recorder.get(BudgetsSlot)!
    assert.equal(state.total, 100_000)
    const size = state.window.size()
    assert.equal(size.keys, 1)
    // At most one vector per bucket of each ring (61 + 61 + 25), whatever the number of violations.
    assert.ok(size.vectors <= 147, `vectors: ${size.vectors}`)
  }))

effectTest(
  "BackgroundLog drops and counts entries past its capacity and writes the rest on close",
  () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const recorder = new Recorder(defaultRecorderConfig)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const log = yield* BackgroundLog.make(recorder, 2, "test_log_full")
          const accepted = [1, 2, 3].map((i) =>
            log.offer({ level: "Warn", render: () => ({ message: `m${i}`, annotations: {} }) })
          )
          assert.deepEqual(accepted, [true, true, false])
        }),
      ).pipe(Effect.provide(logs.layer))
      assert.equal(recorder.drops.get("test_log_full"), 1)
      assert.deepEqual(logs.lines.map((l) => l.message), ["m1", "m2"])
    }),
)

effectTest(
  "BackgroundLog keeps writing when a logger throws, with each entry's annotations and level filter",
  () =>
    Effect.gen(function* () {
      const lines: Array<[string, string, unknown]> = []
      const throwing = Logger.make(() => {
        throw new Error("logger down")
      })
      const collect = Logger.make((options) => {
        const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
        lines.push([options.logLevel, String(options.message).replace(/: .*/, ""), annotations.n])
      })
      const recorder = new Recorder(defaultRecorderConfig)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const log = yield* BackgroundLog.make(recorder, 8, "test_log_full")
          log.offer({ level: "Warn", render: () => ({ message: "first", annotations: { n: 1 } }) })
          log.offer({ level: "Debug", render: () => ({ message: "filtered", annotations: {} }) })
          log.offer({
            level: "Error",
            render: () => {
              throw new Error("bad render")
            },
          })
          log.offer({ level: "Warn", render: () => ({ message: "second", annotations: { n: 2 } }) })
          // Let the background fiber take the batch before the scope closes.
          yield* Effect.yieldNow
        }),
      ).pipe(Effect.provide(Logger.layer([throwing, collect])))
      assert.deepEqual(lines, [
        ["Warn", "first", 1],
        ["Error", "stagetrace", undefined],
        ["Warn", "second", 2],
      ])
    }),
)

effectTest(
  "Budgets.summary() with an invalid window uses the default and counts the drop",
  () =>
    Effect.gen(function* () {
      const [summary, recorder] = yield* Effect.all([
        Budgets.summary({ window: "forever" as never }),
        CurrentRecorder,
      ]).pipe(Effect.provide(Telemetry.layer()))
      assert.equal(summary.windowMs, 86_400_000)
      assert.equal(recorder.drops.get("invalid_window"), 1)
    }),
)

effectTest(
  "the budget counter renders as the catalogue documents it, in one Prometheus family",
  () =>
    Effect.gen(function* () {
      yield* Stage.record("kb", { durationMs: 50, budget: "1 millis" })
      const text = yield* Prometheus.format()
      const help = `# HELP stagetrace_budget_violations_total ${MetricCatalogue.budgetViolations.description}`
      assert.equal(text.split("\n").filter((line) => line === help).length, 1)
      assert.equal(text.match(/^# TYPE stagetrace_budget_violations_total /gm)?.length, 1)
      assert.match(text, /^stagetrace_budget_violations_total\{stage="kb"\} 1$/m)
    }).pipe(Effect.provide(Telemetry.layer({ systemMetrics: false }))),
)
