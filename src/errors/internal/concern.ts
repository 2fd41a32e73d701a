/**
 * The error concern of `Telemetry.layer`: validates `errorRules` and `alerts`, keeps `ErrorsState` on
 * the recorder, and classifies every failed stage (stage-end hook) and request (request-end hook).
 *
 * A stage that succeeds costs one comparison here. A failure costs one classification, a few span
 * attributes, and — where the error first happened — a window update, a counter update and an alert
 * check, all synchronous and bounded. Alert logs and handlers run in background fibers.
 *
 * @internal
 */
import { errorsMetric, latencyAnomaliesMetric } from "../../internal/sharedMetrics.ts"
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as BackgroundLog from "../../internal/backgroundLog.ts"
import {
  durationOption,
  type Env,
  envBoolean,
  envError,
  firstSet,
  integerOption,
  optionError,
  parseKeyValueList,
  positiveDurationOption,
  type TelemetryConfigError,
} from "../../internal/config.ts"
import { makeCounterFamily } from "../../internal/counterFamily.ts"
import type {
  Recorder,
  RequestEndHook,
  RequestRecord,
  StageEndHook,
  StageNode,
} from "../../internal/recorder.ts"
import type { Concern } from "../../internal/concern.ts"
import type { StageError } from "../../stage/Stage.ts"
import { envPositiveDuration } from "../../internal/envDuration.ts"
import type { Alert, AlertOptions, LatencyAnomalyOptions } from "../Alerts.ts"
import { type AnomalyConfig, AnomalyDetector, defaultAnomalyConfig } from "./anomaly.ts"
import { type ErrorCategory, isErrorCategory } from "../ErrorCategory.ts"
import type { ErrorOptions, ErrorRules } from "../Errors.ts"
import { type Classification, classifyCause, type Compiled, merge } from "./classify.ts"
import { type AlertConfig, AlertState, ErrorsSlot, ErrorsState } from "./state.ts"
import { subscribeTo } from "./subscribe.ts"
import * as daemon from "../../internal/daemon.ts"

/** Default alert window: five minutes, as in the seeds. */
export const defaultAlertWindowMs = 300_000

/** Default alert thresholds, as in the seeds. */
export const defaultThresholds: ReadonlyMap<ErrorCategory, number> = new Map<ErrorCategory, number>([
  ["transient", 10],
  ["configuration", 3],
  ["data", 5],
  ["resource", 1],
])

/** Alert log entries waiting for the background logger. */
const alertLogCapacity = 256

/** Environment variables of the error concern. */
export const errorVariables: ReadonlyArray<string> = [
  "STAGETRACE_ALERTS_ENABLED",
  "STAGETRACE_ALERT_WINDOW",
  "STAGETRACE_ALERT_THRESHOLDS",
  "STAGETRACE_LATENCY_ANOMALY",
  "STAGETRACE_LATENCY_ANOMALY_WINDOW",
]

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

const validateRules = (
  value: ErrorRules | ReadonlyArray<ErrorRules> | undefined,
): Effect.Effect<Compiled, TelemetryConfigError> => {
  if (value === undefined) return Effect.succeed(merge([]))
  const list = (Array.isArray(value) ? value : [value]) as ReadonlyArray<unknown>
  for (const [i, item] of list.entries()) {
    if (typeof item !== "object" || item === null || (item as { _tag?: unknown })._tag !== "ErrorRules") {
      return Effect.fail(optionError(`errorRules[${i}]`, item, "Expected rules made by Errors.rules"))
    }
    const invalid = (item as ErrorRules).invalid
    if (invalid.length > 0) {
      const [path, target] = invalid[0]!
      return Effect.fail(optionError(`errorRules.${path}`, target, "Expected an error category"))
    }
  }
  return Effect.succeed(merge(list as ReadonlyArray<ErrorRules>))
}

const numberAtLeast = (
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  strict: boolean,
): Effect.Effect<number, TelemetryConfigError> =>
  value === undefined
    ? Effect.succeed(fallback)
    : typeof value === "number" && Number.isFinite(value) && (strict ? value > min : value >= min)
    ? Effect.succeed(value)
    : Effect.fail(optionError(name, value, `Expected a finite number ${strict ? ">" : "≥"} ${min}`))

/** Validates `alerts.latencyAnomaly`; `undefined` when it is off. */
export const validateAnomaly = (
  value: LatencyAnomalyOptions | false | undefined,
): Effect.Effect<AnomalyConfig | undefined, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (value === false) return undefined
    const prefix = "alerts.latencyAnomaly"
    if (value !== undefined && (typeof value !== "object" || value === null)) {
      return yield* Effect.fail(optionError(prefix, value, "Expected latency anomaly options or false"))
    }
    const d = defaultAnomalyConfig
    const windowMs = (yield* positiveDurationOption(`${prefix}.window`, value?.window)) ?? d.windowMs
    const baselineWindows = yield* integerOption(
      `${prefix}.baselineWindows`,
      value?.baselineWindows,
      d.baselineWindows,
      3,
      1000,
    )
    const minBaselineWindows = yield* integerOption(
      `${prefix}.minBaselineWindows`,
      value?.minBaselineWindows,
      Math.min(d.minBaselineWindows, baselineWindows),
      3,
      baselineWindows,
    )
    return {
      windowMs,
      baselineWindows,
      minBaselineWindows,
      madMultiplier: yield* numberAtLeast(
        `${prefix}.madMultiplier`,
        value?.madMultiplier,
        d.madMultiplier,
        0,
        true,
      ),
      minSamples: yield* integerOption(`${prefix}.minSamples`, value?.minSamples, d.minSamples, 1, 1e9),
      minRelativeIncrease: yield* numberAtLeast(
        `${prefix}.minRelativeIncrease`,
        value?.minRelativeIncrease,
        d.minRelativeIncrease,
        0,
        false,
      ),
      minAbsoluteIncreaseMs:
        (yield* durationOption(`${prefix}.minAbsoluteIncrease`, value?.minAbsoluteIncrease)) ??
          d.minAbsoluteIncreaseMs,
    }
  })

const validateAlerts = (
  value: AlertOptions | false | undefined,
): Effect.Effect<AlertConfig | undefined, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (value === false) return undefined
    if (value !== undefined && (typeof value !== "object" || value === null)) {
      return yield* Effect.fail(optionError("alerts", value, "Expected alert options or false"))
    }
    const windowMs = (yield* positiveDurationOption("alerts.window", value?.window)) ?? defaultAlertWindowMs
    const thresholds = new Map(defaultThresholds)
    for (const [category, threshold] of Object.entries(value?.thresholds ?? {})) {
      if (!isErrorCategory(category)) {
        return yield* Effect.fail(
          optionError(`alerts.thresholds.${category}`, threshold, "Expected an error category as key"),
        )
      }
      if (threshold === false) thresholds.delete(category)
      else if (typeof threshold === "number" && Number.isInteger(threshold) && threshold >= 1) {
        thresholds.set(category, threshold)
      } else if (threshold !== undefined) {
        return yield* Effect.fail(
          optionError(`alerts.thresholds.${category}`, threshold, "Expected a positive integer or false"),
        )
      }
    }
    const onAlert = value?.onAlert
    if (onAlert !== undefined && typeof onAlert !== "function") {
      return yield* Effect.fail(optionError("alerts.onAlert", onAlert, "Expected a function"))
    }
    const latencyAnomaly = yield* validateAnomaly(value?.latencyAnomaly)
    return { windowMs, thresholds, latencyAnomaly }
  })

/** Reads the error concern's options from the environment. */
export const errorsFromEnv = (env: Env): Effect.Effect<Partial<ErrorOptions>, TelemetryConfigError> =>
  Effect.gen(function* () {
    if ((yield* envBoolean(env, ["STAGETRACE_ALERTS_ENABLED"])) === false) return { alerts: false }
    const alerts: {
      window?: number
      thresholds?: Partial<Record<ErrorCategory, number | false>>
      latencyAnomaly?: LatencyAnomalyOptions | false
    } = {}
    const anomaly = yield* envBoolean(env, ["STAGETRACE_LATENCY_ANOMALY"])
    const anomalyWindow = yield* envPositiveDuration(
      env,
      ["STAGETRACE_LATENCY_ANOMALY_WINDOW"],
      'Expected a duration such as "1 minute" or "60s"',
    )
    if (anomaly === false) alerts.latencyAnomaly = false
    else if (anomalyWindow !== undefined) alerts.latencyAnomaly = { window: anomalyWindow }
    const window = yield* envPositiveDuration(
      env,
      ["STAGETRACE_ALERT_WINDOW"],
      'Expected a duration such as "5 minutes" or "300s"',
    )
    if (window !== undefined) alerts.window = window
    const raw = firstSet(env, ["STAGETRACE_ALERT_THRESHOLDS"])
    if (raw !== undefined) {
      const pairs = yield* parseKeyValueList(raw[0], raw[1])
      const thresholds: Partial<Record<ErrorCategory, number | false>> = {}
      for (const [category, text] of Object.entries(pairs)) {
        if (!isErrorCategory(category)) {
          return yield* Effect.fail(
            envError(raw[0], raw[1], `Unknown error category ${JSON.stringify(category)}`),
          )
        }
        const lowered = text.toLowerCase()
        const n = Number(text)
        if (lowered === "off" || lowered === "false") thresholds[category] = false
        else if (text !== "" && Number.isInteger(n) && n >= 1) thresholds[category] = n
        else {
          return yield* Effect.fail(
            envError(
              raw[0],
              raw[1],
              `Expected a positive integer or off for ${category}, got ${JSON.stringify(text)}`,
            ),
          )
        }
      }
      alerts.thresholds = thresholds
    }
    return Object.keys(alerts).length > 0 ? { alerts: alerts as AlertOptions } : {}
  })

// ---------------------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------------------

/** Stands for an interruption when comparing a failure with the one before it. */
const interruption: unique symbol = Symbol("stagetrace/interruption")

/** The value that identifies a failure: its first error or defect, or the interruption marker. */
const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") return reason.error
    if (reason._tag === "Die") return reason.defect
  }
  return interruption
}

/** The last failure seen in a request, to count a propagating failure once. */
interface LastFailure {
  node: StageNode | undefined
  value: unknown
}

const lastFailureSlot = "errors.lastFailure"

const lastFailureOf = (record: RequestRecord): LastFailure | undefined =>
  record.slots?.get(lastFailureSlot) as LastFailure | undefined

/** Whether `inner` is `outer` or a stage nested in it. */
const isWithin = (inner: StageNode | undefined, outer: StageNode): boolean => {
  for (let node = inner, depth = 0; node !== undefined && depth < 256; node = node.parent, depth++) {
    if (node === outer) return true
  }
  return false
}

const withCategory = (error: StageError | undefined, c: Classification): StageError =>
  error === undefined
    ? { type: c.errorType, message: c.message, category: c.category, retryable: c.retryable }
    : { ...error, category: c.category, retryable: c.retryable }

const annotate = (span: StageNode["span"], c: Classification) => {
  span.attribute("error.type", c.errorType)
  span.attribute("stagetrace.error.category", c.category)
  span.attribute("stagetrace.error.retryable", c.retryable)
}

/** The stage-end hook: classifies a failed stage and counts it where it first happened. */
export const stageEndHook = (state: ErrorsState): StageEndHook => (node, exit) => {
  if (exit._tag === "Success") return
  const c = classifyCause(exit.cause, state.rules)
  const request = node.request
  if (request === undefined || !request.closed) node.exec.error = withCategory(node.exec.error, c)
  annotate(node.span, c)
  if (request !== undefined) {
    const value = failureOf(exit.cause)
    const last = lastFailureOf(request)
    if (last !== undefined) {
      const propagated = last.value === value && isWithin(last.node, node)
      last.node = node
      last.value = value
      if (propagated) return
    } else {
      ;(request.slots ??= new Map()).set(lastFailureSlot, { node, value } satisfies LastFailure)
    }
  }
  state.record(c.category, node.exec.stageId, node.timeline.millis(node.endAt))
}

/** The request-end hook: classifies a failed request; counts it when it did not come from a stage. */
export const requestEndHook = (state: ErrorsState): RequestEndHook => (record, summary, exit) => {
  if (exit._tag === "Success") return
  const c = classifyCause(exit.cause, state.rules)
  summary.error = withCategory(summary.error, c)
  annotate(record.span, c)
  const last = lastFailureOf(record)
  if (last !== undefined && last.value === failureOf(exit.cause)) return
  state.record(c.category, record.name, record.startTime + summary.durationMs)
}

// ---------------------------------------------------------------------------------------------------------
// Concern
// ---------------------------------------------------------------------------------------------------------

/** Installs the error concern on `recorder`. */
const install = (recorder: Recorder, options: ErrorOptions) =>
  Effect.gen(function* () {
    const rules = yield* validateRules(options.errorRules)
    const alertConfig = yield* validateAlerts(options.alerts)
    const maxStages = recorder.config.maxStageIds
    const counter = yield* makeCounterFamily(
      errorsMetric.name,
      errorsMetric.description,
      [...errorsMetric.labels],
      maxStages * 7,
    )
    const alerts = alertConfig === undefined ? undefined : new AlertState(alertConfig, maxStages)
    const state = new ErrorsState(rules, maxStages, alerts, counter)
    if (alerts !== undefined) {
      alerts.log = yield* BackgroundLog.make(recorder, alertLogCapacity, "alert_log_full")
      const onAlert = options.alerts === false ? undefined : options.alerts?.onAlert
      if (onAlert !== undefined) {
        yield* subscribeTo(recorder, alerts, onAlert as (alert: Alert) => Effect.Effect<void>, 256)
      }
      const anomaly = alertConfig!.latencyAnomaly
      if (anomaly !== undefined) {
        const anomalies = yield* makeCounterFamily(
          latencyAnomaliesMetric.name,
          latencyAnomaliesMetric.description,
          [...latencyAnomaliesMetric.labels],
          maxStages + 1,
        )
        const detector = new AnomalyDetector(
          anomaly,
          recorder.stats,
          yield* Clock.currentTimeMillis,
          (alert) => alerts.publish(alert),
          anomalies,
        )
        alerts.anomalies = detector
        // One check per window, off the hot path: the window's statistics come from the stage sketches.
        yield* Effect.forkScoped(
          daemon.forever(
            Effect.sleep(anomaly.windowMs).pipe(
              Effect.andThen(Clock.currentTimeMillis),
              Effect.map((now) => detector.evaluate(now)),
            ),
          ),
        )
      }
    }
    recorder.set(ErrorsSlot, state)
    recorder.stageEnd.push(stageEndHook(state))
    recorder.requestEnd.push(requestEndHook(state))
    return {}
  })

/** The error concern (classification, error window, alerts). */
export const errorsConcern: Concern<ErrorOptions> = {
  name: "errors",
  environmentVariables: errorVariables,
  fromEnv: errorsFromEnv,
  install,
}
