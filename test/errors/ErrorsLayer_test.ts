import assert from "node:assert/strict"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import { Errors, Request, Stage, Summaries, Telemetry } from "../../mod.ts"
import { CurrentRecorder } from "../../src/internal/recorder.ts"
import { ErrorsSlot } from "../../src/errors/internal/state.ts"
import { effectTest } from "../_harness.ts"
import { captureLogs, counterSeries, counterValue } from "./_support.ts"
import { recordSpans } from "../_spans.ts"

class RateLimited extends Data.TaggedError("RateLimited") {}
class Invalid extends Data.TaggedError("Invalid") {}

const lastSummary = Effect.map(Summaries.recent(1), (s) => s[0]!)

effectTest(
  "a failed stage is classified on its span, in its summary and in stagetrace_errors_total",
  () =>
    Effect.gen(function* () {
      const rules = Errors.rules<RateLimited | Invalid>({ tags: { RateLimited: "transient" } })
      const summary = yield* Effect.gen(function* () {
        yield* Effect.fail(new RateLimited()).pipe(Stage.track("llm_request"), Effect.ignore)
        yield* Effect.fail(new Invalid()).pipe(Stage.track("format"), Effect.ignore)
      }).pipe(
        Request.track("chat"),
        Effect.andThen(lastSummary),
        Effect.provide(Telemetry.layer({ errorRules: rules })),
      )

      const [llm, format] = summary.stages
      assert.deepEqual(llm?.error, {
        type: "RateLimited",
        message: "",
        category: "transient",
        retryable: true,
      })
      assert.equal(format?.error?.category, "unknown")
      assert.equal(summary.error, undefined, "the request itself succeeded")
      assert.equal(
        yield* counterValue("stagetrace_errors_total", { category: "transient", stage: "llm_request" }),
        1,
      )
      assert.equal(
        yield* counterValue("stagetrace_errors_total", { category: "unknown", stage: "format" }),
        1,
      )
    }),
)

effectTest(
  "the failure's category goes on the span as error.type and stagetrace.error.category",
  () =>
    Effect.gen(function* () {
      const tracer = recordSpans()
      yield* Effect.fail({ status: 503 }).pipe(
        Stage.track("kb_access"),
        Request.track("chat"),
        Effect.ignore,
        Effect.provide(Telemetry.layer()),
        Effect.provide(tracer.layer),
      )
      for (const name of ["kb_access", "chat"]) {
        const span = tracer.spans.find((s) => s.name === name)!
        assert.equal(span.attributes.get("error.type"), "Object")
        assert.equal(span.attributes.get("stagetrace.error.category"), "transient")
        assert.equal(span.attributes.get("stagetrace.error.retryable"), true)
      }
    }),
)

effectTest(
  "an error propagating through nested stages and the request is counted once, where it happened",
  () =>
    Effect.gen(function* () {
      const result = yield* Effect.gen(function* () {
        yield* Effect.fail(new Error("connection reset")).pipe(
          Stage.track("llm_request"),
          Stage.track("pipeline"),
          Request.track("chat"),
          Effect.ignore,
        )
        return {
          summary: yield* lastSummary,
          errors: yield* Errors.summary(),
          series: yield* counterSeries("stagetrace_errors_total"),
        }
      }).pipe(Effect.provide(Telemetry.layer()))
      const pipeline = result.summary.stages[0]!
      assert.equal(pipeline.error?.category, "transient")
      assert.equal(pipeline.substages[0]?.error?.category, "transient")
      assert.equal(result.summary.error?.category, "transient")
      assert.equal(result.errors.totalErrors, 1)
      assert.deepEqual(Object.keys(result.errors.byStage), ["llm_request"])
      assert.deepEqual(result.series, [[{ category: "transient", stage: "llm_request" }, 1]])
    }),
)

effectTest("a request failing outside any stage counts under its name", () =>
  Effect.gen(function* () {
    const errors = yield* Effect.gen(function* () {
      yield* Effect.void.pipe(Stage.track("auth_check"))
      yield* Effect.fail(new Invalid())
    }).pipe(
      Request.track("chat"),
      Effect.ignore,
      Effect.andThen(Errors.summary()),
      Effect.provide(Telemetry.layer({ errorRules: Errors.rules({ tags: { Invalid: "data" } }) })),
    )
    assert.deepEqual(errors.byStage, { chat: { total: 1, byCategory: { data: 1 } } })
  }))

effectTest("two different failures in one request are both counted", () =>
  Effect.gen(function* () {
    const errors = yield* Effect.gen(function* () {
      yield* Effect.fail(new Error("timeout")).pipe(Stage.track("kb_access"), Effect.ignore)
      yield* Effect.fail(new Error("disk full")).pipe(Stage.track("kb_write"))
    }).pipe(
      Request.track("chat"),
      Effect.ignore,
      Effect.andThen(Errors.summary()),
      Effect.provide(Telemetry.layer({ alerts: false })),
    )
    assert.equal(errors.totalErrors, 2)
    assert.equal(errors.byCategory.transient, 1)
    assert.equal(errors.byCategory.resource, 1)
  }))

effectTest("interrupted and defective stages are classified too", () =>
  Effect.gen(function* () {
    const summary = yield* Effect.gen(function* () {
      yield* Effect.die(new TypeError("x is undefined")).pipe(Stage.track("parse"), Effect.ignoreCause)
      yield* Effect.interrupt.pipe(Stage.track("race_loser"), Effect.ignoreCause)
      return yield* Errors.summary()
    }).pipe(Effect.provide(Telemetry.layer()))
    assert.equal(summary.byCategory.defect, 1)
    assert.equal(summary.byCategory.interrupted, 1)
  }))

effectTest(
  "Errors.summary() counts by category and stage and errors age out of the window",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const timeout = Effect.fail(new Error("timeout")).pipe(Stage.track("kb_access"), Effect.ignore)
        const invalid = Effect.fail({ status: 422 }).pipe(Stage.track("format"), Effect.ignore)
        yield* timeout
        yield* timeout
        yield* invalid
        const now = yield* Errors.summary({ window: "5 minutes" })
        assert.equal(now.totalErrors, 3)
        assert.equal(now.windowMs, 300_000)
        assert.deepEqual(now.byCategory, {
          transient: 2,
          configuration: 0,
          data: 1,
          resource: 0,
          interrupted: 0,
          defect: 0,
          unknown: 0,
        })
        assert.deepEqual(now.byStage, {
          kb_access: { total: 2, byCategory: { transient: 2 } },
          format: { total: 1, byCategory: { data: 1 } },
        })
        yield* TestClock.adjust("10 minutes")
        yield* timeout
        assert.equal((yield* Errors.summary({ window: "5 minutes" })).totalErrors, 1)
        assert.equal((yield* Errors.summary()).totalErrors, 4, "the default window is one hour")
        yield* TestClock.adjust("2 hours")
        assert.equal((yield* Errors.summary()).totalErrors, 0)
        assert.equal((yield* Errors.summary({ window: "1 day" })).totalErrors, 4)
      }).pipe(Effect.provide(Telemetry.layer({ alerts: false })))
    }),
)

effectTest("a sustained flood of 1M errors keeps memory bounded", () =>
  Effect.gen(function* () {
    const logs = captureLogs()
    const recorder = yield* Effect.gen(function* () {
      const recorder = yield* CurrentRecorder
      const fail = Effect.fail(new Error("connection refused"))
      const stages = ["kb_access", "llm_request", "cache"].map((id) =>
        fail.pipe(Stage.track(id), Effect.ignore)
      )
      for (let i = 0; i < 1_000_000; i++) {
        yield* stages[i % 3]!
        if (i % 10_000 === 0) yield* TestClock.adjust("13 seconds")
      }
      return recorder
    }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(logs.layer))
    const state = recorder.get(ErrorsSlot)!
    assert.equal(state.total, 1_000_000)
    const size = state.window.size()
    assert.equal(size.keys, 3)
    // At most one vector per stage and bucket of each ring (61 + 61 + 25 buckets).
    assert.ok(size.vectors <= 3 * 147, `vectors: ${size.vectors}`)
    assert.equal(state.alerts!.size(), 3)
    assert.ok(state.alerts!.recent.length <= 100)
    assert.equal(
      yield* counterValue("stagetrace_errors_total", { category: "transient", stage: "cache" }),
      333_333,
    )
  }))

effectTest(
  "distinct stage ids past maxStageIds are aggregated under __overflow__",
  () =>
    Effect.gen(function* () {
      const recorder = yield* Effect.gen(function* () {
        for (let i = 0; i < 50; i++) {
          yield* Effect.fail(new Error("x")).pipe(Stage.track(`stage_${i}`), Effect.ignore)
        }
        return yield* CurrentRecorder
      }).pipe(Effect.provide(Telemetry.layer({ maxStageIds: 10, alerts: false })))
      const state = recorder.get(ErrorsSlot)!
      // Ten stage ids of their own, the rest under __overflow__ (as StageStats does).
      assert.equal(state.window.size().keys, 11)
      const series = yield* counterSeries("stagetrace_errors_total")
      assert.equal(series.length, 11)
      assert.ok(series.some(([attrs]) => attrs.stage === "__overflow__"))
      assert.equal(series.reduce((n, [, count]) => n + count, 0), 50)
    }),
)

effectTest("Telemetry.layer() rejects invalid error rules and alert options", () =>
  Effect.gen(function* () {
    const build = (options: Telemetry.TelemetryOptions) =>
      Layer.build(Telemetry.layer(options)).pipe(Effect.scoped, Effect.flip)
    const bad = yield* build({ errorRules: Errors.rules({ tags: { X: "flaky" as never } }) })
    assert.equal(bad.name, "errorRules.tags.X")
    const notRules = yield* build({ errorRules: { tags: {} } as never })
    assert.equal(notRules.name, "errorRules[0]")
    const threshold = yield* build({ alerts: { thresholds: { transient: 0 } } })
    assert.equal(threshold.name, "alerts.thresholds.transient")
    const category = yield* build({ alerts: { thresholds: { flaky: 1 } as never } })
    assert.equal(category.name, "alerts.thresholds.flaky")
    const window = yield* build({ alerts: { window: "0 millis" } })
    assert.equal(window.name, "alerts.window")
  }))

effectTest("Telemetry.layerFromEnv() reads the alert variables", () =>
  Effect.gen(function* () {
    const options = yield* Telemetry.optionsFromEnv({
      STAGETRACE_ALERT_WINDOW: "60s",
      STAGETRACE_ALERT_THRESHOLDS: "transient=20,resource=off,defect=1",
    })
    assert.deepEqual(options.alerts, {
      window: 60_000,
      thresholds: { transient: 20, resource: false, defect: 1 },
    })
    assert.deepEqual((yield* Telemetry.optionsFromEnv({ STAGETRACE_ALERTS_ENABLED: "false" })).alerts, false)
    const bad = yield* Effect.flip(
      Telemetry.optionsFromEnv({ STAGETRACE_ALERT_THRESHOLDS: "transient=many" }),
    )
    assert.equal(bad.name, "STAGETRACE_ALERT_THRESHOLDS")
    const unknown = yield* Effect.flip(Telemetry.optionsFromEnv({ STAGETRACE_ALERT_THRESHOLDS: "flaky=1" }))
    assert.match(unknown.message, /flaky/)
    for (
      const name of ["STAGETRACE_ALERT_WINDOW", "STAGETRACE_ALERT_THRESHOLDS", "STAGETRACE_ALERTS_ENABLED"]
    ) {
      assert.ok(Telemetry.environmentVariables.includes(name), name)
    }
  }))
