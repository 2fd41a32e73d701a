/**
 * Alerts of two kinds, each published once per crossing (no alert storm):
 *
 * - `error_frequency`: per error category and stage, `Telemetry.layer` counts errors over a sliding window
 *   (default 5 minutes, moving 1/30 of the window at a time); when a count reaches its category's threshold
 *   (defaults: transient 10, configuration 3, data 5, resource 1; categories without a threshold never
 *   alert) one alert is published and logged at error level. The counter then stays quiet until its count
 *   has fallen below the threshold again.
 * - `latency_anomaly`: no threshold to configure. At the end of every window (default 1 minute) each
 *   stage's p95 over that window (read from its `StageStats` sketch) is compared with the stage's own
 *   recent baseline, the p95 of its last windows (default 10): the window is anomalous when its p95 is above
 *   `median + max(3 × 1.4826 × MAD, 20% of the median, 1 ms)` of the baseline. The first anomalous window
 *   publishes one alert, logged at warning level and counted in `stagetrace_latency_anomalies_total{stage}`;
 *   the stage re-arms after a window that is not anomalous. Windows with fewer than 20 samples are
 *   skipped, and a stage needs 5 baseline windows before it can alert.
 *
 * Alerts are published on a bounded stream (`Alerts.stream`), to subscribers (`Alerts.subscribe`, or the
 * `onAlert` option of `Telemetry.layer`), and kept in a small ring (`Alerts.recent`, the last 100).
 * Counting is synchronous and bounded; handlers run in background fibers, never on the failing stage's
 * path.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md#alerts).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Duration from "effect/Duration"
import { CurrentRecorder, type Recorder } from "../internal/recorder.ts"
import type { ErrorCategory } from "./ErrorCategory.ts"
import { type AlertState, ErrorsSlot } from "./internal/state.ts"
import type { Alert } from "./internal/alertsModel.ts"
import { subscribeTo } from "./internal/subscribe.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: Alert (declared in ./internal/alertsModel.ts, which the error state reads), AlertOptions,
// SubscribeOptions
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/alertsModel.ts"

/**
 * Options of latency-anomaly detection (`alerts.latencyAnomaly`). Every field has a default; the rule:
 * a window is anomalous when its p95 > `median + max(madMultiplier × 1.4826 × MAD, minRelativeIncrease ×
 * median, minAbsoluteIncrease)`, median and MAD taken over the p95 of the stage's last `baselineWindows`
 * windows that had at least `minSamples` samples.
 *
 * @category configuration
 * @since 0.2.0
 */
export interface LatencyAnomalyOptions {
  /**
   * The window whose p95 is compared with the baseline (also how often stages are checked).
   * @default "1 minute"
   */
  readonly window?: Duration.Input | undefined
  /**
   * How many previous windows form a stage's baseline (an integer in [3, 1000]).
   * @default 10
   */
  readonly baselineWindows?: number | undefined
  /**
   * Baseline windows a stage needs before it can alert (an integer in [3, baselineWindows]).
   * @default 5
   */
  readonly minBaselineWindows?: number | undefined
  /**
   * How many scaled median absolute deviations above the median a p95 must be (a positive number).
   * @default 3
   */
  readonly madMultiplier?: number | undefined
  /**
   * Samples a window needs to be judged or to enter the baseline (a positive integer).
   * @default 20
   */
  readonly minSamples?: number | undefined
  /**
   * The smallest increase over the baseline median that counts, as a fraction of it (≥ 0): keeps a very
   * steady stage (MAD near 0) from alerting on noise.
   * @default 0.2
   */
  readonly minRelativeIncrease?: number | undefined
  /**
   * The smallest increase over the baseline median that counts, as a duration (≥ 0).
   * @default "1 millis"
   */
  readonly minAbsoluteIncrease?: Duration.Input | undefined
}

/**
 * Alert options of `Telemetry.layer` (`alerts`).
 *
 * @category configuration
 * @since 0.1.0
 */
export interface AlertOptions {
  /**
   * The sliding window errors are counted over.
   * @default "5 minutes"
   */
  readonly window?: Duration.Input | undefined
  /**
   * Errors per window that raise an alert, by category (positive integers). A given threshold replaces
   * the default of its category; `false` turns a category's alerts off; a category without a threshold
   * (`interrupted`, `defect`, `unknown` by default) never alerts.
   * @default transient 10, configuration 3, data 5, resource 1
   */
  readonly thresholds?: Readonly<Partial<Record<ErrorCategory, number | false>>> | undefined
  /**
   * Runs for every alert, in a background fiber of the telemetry layer (post to a webhook, page someone).
   * Its failures are logged and ignored; alerts it cannot keep up with are dropped and counted.
   */
  readonly onAlert?: ((alert: Alert) => Effect.Effect<void>) | undefined
  /**
   * Latency-anomaly detection (see `LatencyAnomalyOptions`); `false` turns it off.
   * @default {}
   */
  readonly latencyAnomaly?: LatencyAnomalyOptions | false | undefined
}

/**
 * Options of `Alerts.stream` and `Alerts.subscribe`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SubscribeOptions {
  /**
   * Alerts buffered for a slow consumer (a positive integer; anything else means the default); past it,
   * new alerts are dropped for this subscriber and counted.
   * @default 256
   */
  readonly bufferSize?: number | undefined
}

// ---------------------------------------------------------------------------------------------------------
// Reading alerts
// ---------------------------------------------------------------------------------------------------------

const alertState = (recorder: Recorder): AlertState | undefined => recorder.get(ErrorsSlot)?.alerts

const bufferSizeOf = (options: SubscribeOptions | undefined): number => {
  const size = options?.bufferSize
  return size !== undefined && Number.isInteger(size) && size >= 1 ? size : 256
}

/**
 * Alerts published from the moment the stream starts, in order. Ends immediately when alerts are not
 * installed (no `Telemetry.layer`, or `alerts: false`).
 *
 * @example Streaming alerts
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Fiber, Stream } from "effect"
 * import { Alerts, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const alerts = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const fiber = yield* Alerts.stream().pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
 *     yield* Effect.yieldNow
 *     // One resource error reaches the default threshold of 1.
 *     yield* Effect.fail(new Error("disk full")).pipe(Stage.track("kb_write"), Effect.ignore)
 *     return yield* Fiber.join(fiber)
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(alerts[0]?.kind === "error_frequency" && alerts[0].category, "resource")
 * ```
 *
 * @category alerts
 * @since 0.1.0
 */
export const stream = (options?: SubscribeOptions): Stream.Stream<Alert> =>
  Stream.unwrap(Effect.withFiber((fiber) => {
    const recorder = fiber.getRef(CurrentRecorder)
    const state = alertState(recorder)
    if (state === undefined) return Effect.succeed(Stream.empty)
    return Effect.succeed(Stream.callback<Alert>(
      (queue) =>
        Effect.sync(() => {
          const listener = (alert: Alert) => {
            if (Queue.offerUnsafe(queue, alert)) return true
            recorder.countDrop("alert_subscriber_full")
            return false
          }
          state.listeners.add(listener)
          return listener
        }).pipe(
          Effect.flatMap((listener) =>
            Effect.addFinalizer(() => Effect.sync(() => state.listeners.delete(listener)))
          ),
        ),
      { bufferSize: bufferSizeOf(options), strategy: "dropping" },
    ))
  }))

/**
 * Runs `handler` for every alert published from now on, in a fiber of the current scope (subscribed
 * before this effect returns, so no alert is missed in between). The handler's failures are logged and
 * ignored. Does nothing when alerts are not installed.
 *
 * @example Reacting to an alert
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Fiber } from "effect"
 * import { Alerts, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const alerts = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const seen: Array<Alerts.Alert> = []
 *     yield* Alerts.subscribe((alert) => Effect.sync(() => seen.push(alert)))
 *     // One resource error reaches the default threshold of 1.
 *     yield* Effect.fail(new Error("disk full")).pipe(Stage.track("kb_write"), Effect.ignore)
 *     while (seen.length === 0) yield* Effect.yieldNow
 *     return seen
 *   }).pipe(Effect.scoped, Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(alerts[0]?.kind, "error_frequency")
 * assert.equal(alerts[0]?.kind === "error_frequency" && alerts[0].category, "resource")
 * assert.equal(alerts[0]?.stageId, "kb_write")
 * ```
 *
 * @category alerts
 * @since 0.1.0
 */
export const subscribe = (
  handler: (alert: Alert) => Effect.Effect<void>,
  options?: SubscribeOptions,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.withFiber((fiber) => {
    const recorder = fiber.getRef(CurrentRecorder)
    const state = alertState(recorder)
    if (state === undefined) return Effect.void
    return subscribeTo(recorder, state, handler, bufferSizeOf(options))
  })

/**
 * The most recent alerts (at most 100), newest first.
 *
 * @example The latest alerts
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Alerts, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const recent = await Effect.runPromise(
 *   Effect.fail(new Error("disk full")).pipe(
 *     Stage.track("kb_write"),
 *     Effect.ignore,
 *     Effect.andThen(Alerts.recent),
 *     Effect.provide(Telemetry.layer()),
 *   ),
 * )
 * assert.deepEqual(recent.map((a) => [a.kind === "error_frequency" ? a.category : a.kind, a.stageId, a.count]), [["resource", "kb_write", 1]])
 * ```
 *
 * @category alerts
 * @since 0.1.0
 */
export const recent: Effect.Effect<ReadonlyArray<Alert>> = Effect.withFiber((fiber) => {
  const state = alertState(fiber.getRef(CurrentRecorder))
  return Effect.succeed(state === undefined ? [] : state.recent.slice().reverse())
})
