/**
 * Request and stage lifecycle records without running effects on the hot path: recorder hooks build a
 * small entry (only when its level is enabled) and offer it to the shared background logger
 * (`src/internal/backgroundLog.ts`), synchronously; its fiber in the telemetry layer's scope hands the
 * entries to the log concern's loggers. A full queue drops the entry and counts `log_queue_full`; when the
 * layer closes, entries still queued are written first.
 *
 * The entry carries its own time (the stage's start or end, from the recorder's clock) and its
 * correlation ids as annotations, since the background fiber has neither.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as BackgroundLog from "../../internal/backgroundLog.ts"
import { nanosToMillis, type Recorder, type RequestRecord, type StageNode } from "../../internal/recorder.ts"
import type { RequestSummary } from "../../stage/Request.ts"
import { errorOf } from "../../stage/internal/tracking.ts"
import type { LogConfig } from "../Log.ts"
import { basicCategory } from "./category.ts"

/** One lifecycle record waiting to be written. */
export interface Entry {
  readonly level: LogLevel.LogLevel
  readonly message: string
  /** Epoch milliseconds of the event. */
  readonly millis: number
  readonly fields: Record<string, unknown>
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000

const stageFields = (node: StageNode): Record<string, unknown> => {
  const fields: Record<string, unknown> = {
    trace_id: node.span.traceId,
    span_id: node.span.spanId,
  }
  if (node.request !== undefined) fields.request_id = node.request.requestId
  fields.stage_id = node.exec.stageId
  if (node.exec.name !== node.exec.stageId) fields.stage_name = node.exec.name
  return fields
}

const requestFields = (record: RequestRecord): Record<string, unknown> => ({
  trace_id: record.span.traceId,
  span_id: record.span.spanId,
  request_id: record.requestId,
  request_name: record.name,
})

const writeEntry = (
  entry: Entry,
  loggers: ReadonlySet<Logger.Logger<unknown, unknown>>,
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const options = {
      message: [entry.message],
      logLevel: entry.level,
      cause: Cause.empty,
      fiber,
      date: new Date(entry.millis),
    }
    for (const logger of loggers) {
      try {
        logger.log(options)
      } catch {
        // One failing logger must not stop the others.
      }
    }
    return Effect.void
  }).pipe(Effect.provideService(References.CurrentLogAnnotations, entry.fields))

/**
 * Installs the lifecycle hooks on `recorder` and starts the background writer in the current scope.
 * `loggers` are the loggers the entries go to (the layer's logger set).
 */
export const install = (
  recorder: Recorder,
  config: LogConfig,
  loggers: ReadonlySet<Logger.Logger<unknown, unknown>>,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const levels = config.lifecycle
    if (levels === undefined) return
    const enabled = (level: LogLevel.LogLevel) =>
      level !== "None" && !LogLevel.isGreaterThan(config.level, level)
    const stageStart = enabled(levels.stageStart)
    const stageEnd = enabled(levels.stageEnd)
    const stageFailure = enabled(levels.stageFailure)
    const requestStart = enabled(levels.requestStart)
    const requestEnd = enabled(levels.requestEnd)
    const requestFailure = enabled(levels.requestFailure)
    if (!stageStart && !stageEnd && !stageFailure && !requestStart && !requestEnd && !requestFailure) return

    const { offer } = yield* BackgroundLog.makeWith<Entry>(
      recorder,
      config.queueCapacity,
      "log_queue_full",
      (entry) => writeEntry(entry, loggers),
    )

    if (stageStart) {
      recorder.stageStart.push((node) => {
        offer({
          level: levels.stageStart,
          message: "stage started",
          millis: nanosToMillis(node.startNanos),
          fields: stageFields(node),
        })
      })
    }
    if (stageEnd || stageFailure) {
      recorder.stageEnd.push((node, exit, endNanos, durationMs) => {
        const success = exit._tag === "Success"
        if (success ? !stageEnd : !stageFailure) return
        const fields = stageFields(node)
        fields.duration_ms = round(durationMs)
        fields.success = success
        if (node.exec.recorded === true) fields.recorded = true
        if (node.exec.overBudget === true) {
          fields.over_budget = true
          if (node.exec.budgetMs !== undefined) fields.budget_ms = node.exec.budgetMs
        }
        if (!success) {
          const error = node.exec.error ?? errorOf(exit.cause)
          fields.error_type = error.type
          fields.error_message = error.message
          fields.error_category = error.category ?? basicCategory(exit.cause)
        }
        offer({
          level: success ? levels.stageEnd : levels.stageFailure,
          message: success ? "stage completed" : "stage failed",
          millis: nanosToMillis(endNanos),
          fields,
        })
      })
    }
    if (requestStart) {
      recorder.requestStart.push((record) => {
        offer({
          level: levels.requestStart,
          message: "request started",
          millis: record.startTime,
          fields: requestFields(record),
        })
      })
    }
    if (requestEnd || requestFailure) {
      // A request-end hook (not a summary sink) sees the exit; the log concern is installed after budgets
      // and errors, so `overBudget` and the error category are already set.
      recorder.requestEnd.push((record, summary: RequestSummary, exit) => {
        const success = summary.success
        if (success ? !requestEnd : !requestFailure) return
        const fields = requestFields(record)
        fields.duration_ms = round(summary.durationMs)
        fields.success = success
        fields.status = summary.status
        fields.stage_count = summary.stageCount
        if (summary.bottlenecks.length > 0) fields.bottlenecks = summary.bottlenecks.map((b) => b.stageId)
        if (summary.overBudget) fields.over_budget = true
        if (summary.error !== undefined) {
          fields.error_type = summary.error.type
          fields.error_message = summary.error.message
          fields.error_category = summary.error.category ??
            (exit._tag === "Failure" ? basicCategory(exit.cause) : undefined)
        }
        offer({
          level: success ? levels.requestEnd : levels.requestFailure,
          message: success ? "request completed" : "request failed",
          millis: summary.startTime + summary.durationMs,
          fields,
        })
      })
    }
  })
