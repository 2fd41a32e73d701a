import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { Alerts, Stage, Telemetry } from "../../mod.ts"
import { effectTest } from "../_harness.ts"
import { captureLogs } from "./_support.ts"

/** The category of an error-frequency alert, else the alert's kind. */
const categoryOf = (alert: Alerts.Alert): string =>
  alert.kind === "error_frequency" ? alert.category : alert.kind

const configError = Effect.fail(new Error("invalid api key")).pipe(Stage.track("llm_request"), Effect.ignore)
const transientError = Effect.fail(new Error("timeout")).pipe(Stage.track("kb_access"), Effect.ignore)

const repeat = (effect: Effect.Effect<void>, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* effect
  })

effectTest(
  "Alerts fire once per crossing and re-arm when the count falls below the threshold",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        // configuration: threshold 3 in 5 minutes.
        yield* repeat(configError, 2)
        assert.equal((yield* Alerts.recent).length, 0)
        yield* TestClock.adjust("1 minute")
        yield* configError
        const [first] = yield* Alerts.recent
        assert.deepEqual(first, {
          kind: "error_frequency",
          category: "configuration",
          stageId: "llm_request",
          count: 3,
          threshold: 3,
          windowMs: 300_000,
          firstAt: 0,
          lastAt: 60_000,
        })
        // Still above the threshold: no alert storm.
        yield* repeat(configError, 20)
        assert.equal((yield* Alerts.recent).length, 1)
        // Five quiet minutes: the count falls below the threshold, so the next crossing alerts again.
        yield* TestClock.adjust("6 minutes")
        yield* repeat(configError, 2)
        assert.equal((yield* Alerts.recent).length, 1)
        yield* configError
        const alerts = yield* Alerts.recent
        assert.equal(alerts.length, 2)
        assert.equal(alerts[0]?.count, 3)
        assert.equal(alerts[0]?.firstAt, 420_000)
      }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(captureLogs().layer))
    }),
)

effectTest(
  "Alerts count per category and stage with the configured window and thresholds",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        // Errors spread over 2 minutes never reach 4 in a 1-minute window.
        for (let i = 0; i < 8; i++) {
          yield* transientError
          yield* TestClock.adjust("20 seconds")
        }
        assert.equal((yield* Alerts.recent).length, 0)
        yield* repeat(transientError, 3)
        assert.deepEqual((yield* Alerts.recent).map((a) => [categoryOf(a), a.stageId, a.count, a.windowMs]), [
          ["transient", "kb_access", 4, 60_000],
        ])
        // Resource alerts are off; defects now alert at 1.
        yield* Effect.fail(new Error("disk full")).pipe(Stage.track("kb_write"), Effect.ignore)
        yield* Effect.die(new TypeError("boom")).pipe(Stage.track("parse"), Effect.ignoreCause)
        assert.deepEqual((yield* Alerts.recent).map(categoryOf), ["defect", "transient"])
      }).pipe(
        Effect.provide(
          Telemetry.layer({
            alerts: { window: "1 minute", thresholds: { transient: 4, resource: false, defect: 1 } },
          }),
        ),
        Effect.provide(captureLogs().layer),
      )
    }),
)

effectTest("Alerts are logged at error level", () =>
  Effect.gen(function* () {
    const logs = captureLogs()
    yield* repeat(configError, 3).pipe(Effect.provide(Telemetry.layer()), Effect.provide(logs.layer))
    const errors = logs.lines.filter((l) => l.level === "Error")
    assert.equal(errors.length, 1)
    assert.match(errors[0]!.message, /3 configuration errors in llm_request within 5 min/)
    assert.equal(errors[0]!.annotations["alert.threshold"], 3)
    assert.equal(errors[0]!.annotations["stage.id"], "llm_request")
  }))

effectTest("Alerts.stream() delivers alerts published after it starts", () =>
  Effect.gen(function* () {
    const alerts = yield* Effect.gen(function* () {
      const fiber = yield* Alerts.stream().pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      yield* repeat(configError, 3)
      yield* Effect.fail(new Error("out of memory")).pipe(Stage.track("llm_request"), Effect.ignore)
      return yield* Fiber.join(fiber)
    }).pipe(Effect.provide(Telemetry.layer()), Effect.provide(captureLogs().layer))
    assert.deepEqual(Array.from(alerts).map(categoryOf), ["configuration", "resource"])
  }))

effectTest(
  "Alerts.subscribe() runs the handler in the background and survives its failures",
  () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const logs = captureLogs()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Alerts.subscribe((alert) =>
            categoryOf(alert) === "resource"
              ? Effect.fail("webhook down") as unknown as Effect.Effect<void>
              : Effect.sync(() => seen.push(categoryOf(alert)))
          )
          yield* Effect.fail(new Error("disk full")).pipe(Stage.track("kb_write"), Effect.ignore)
          yield* repeat(configError, 3)
        }),
      ).pipe(Effect.provide(Telemetry.layer()), Effect.provide(logs.layer))
      // Closing the scope handled every queued alert before stopping the handler.
      assert.deepEqual(seen, ["configuration"])
      assert.ok(logs.lines.some((l) => l.level === "Warn" && /alert handler failed/.test(l.message)))
    }),
)

effectTest(
  "Telemetry.layer({ alerts: { onAlert } }) runs the handler for every alert",
  () =>
    Effect.gen(function* () {
      const seen: Array<Alerts.Alert> = []
      yield* repeat(configError, 3).pipe(
        Effect.provide(
          Telemetry.layer({ alerts: { onAlert: (alert) => Effect.sync(() => seen.push(alert)) } }),
        ),
        Effect.provide(captureLogs().layer),
      )
      assert.equal(seen.length, 1)
      assert.equal(seen[0]?.stageId, "llm_request")
    }),
)

effectTest("Telemetry.layer({ alerts: false }) publishes no alert", () =>
  Effect.gen(function* () {
    const [recent, streamed] = yield* Effect.gen(function* () {
      yield* repeat(configError, 10)
      return [yield* Alerts.recent, yield* Stream.runCollect(Alerts.stream())] as const
    }).pipe(Effect.provide(Telemetry.layer({ alerts: false })))
    assert.deepEqual(recent, [])
    assert.deepEqual(Array.from(streamed), [])
  }))

effectTest(
  "an alert window never reaches further back than the window (it moves in steps of 1/30)",
  () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        // threshold 2 in 1 minute (buckets of 2 s). Exactly one window apart: not together.
        yield* transientError
        yield* TestClock.adjust("60 seconds")
        yield* transientError
        assert.equal((yield* Alerts.recent).length, 0)
        // 58 s apart (29 of 30 buckets): together.
        yield* TestClock.adjust("58 seconds")
        yield* transientError
        assert.deepEqual((yield* Alerts.recent).map((a) => [a.count, a.firstAt, a.lastAt]), [
          [2, 60_000, 118_000],
        ])
      }).pipe(
        Effect.provide(Telemetry.layer({ alerts: { window: "1 minute", thresholds: { transient: 2 } } })),
        Effect.provide(captureLogs().layer),
      )
    }),
)
