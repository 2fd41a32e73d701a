/**
 * Request and stage lifecycle records without running effects or building records on the hot path:
 * recorder hooks offer a small event (only when its level is enabled) holding references to the stage or
 * request, its failure if any and its times, synchronously, to the shared background logger
 * (`src/internal/backgroundLog.ts`); its fiber in the telemetry layer's scope renders the records (fields,
 * correlation ids, error description) and hands them to the log concern's loggers, a batch at a time in
 * one effect. A full queue drops the event and counts `log_queue_full`; when the layer closes, events still
 * queued are written first.
 *
 * Rendering later reads the same values: a stage's execution record and a request's summary are final once
 * their end hooks ran (this concern is installed after budgets and errors, which mark them), and causes are
 * immutable. Events are bounded by the queue's capacity; they keep a failure's cause, never a stage's value. The record carries the event's own time (the stage's start or end, from the recorder's clock)
 * and its correlation ids as annotations, since the background fiber has neither.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
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

/** One lifecycle record, rendered. */
export interface Entry {
  readonly level: LogLevel.LogLevel
  readonly message: string
  /** Epoch milliseconds of the event. */
  readonly millis: number
  readonly fields: Record<string, unknown>
}

/** What happened; `Event` holds what rendering it needs. */
const enum Kind {
  StageStart,
  StageEnd,
  RequestStart,
  RequestEnd,
}

/**
 * A lifecycle event waiting to be rendered: references only, no record built on the hot path. A failure
 * keeps its cause; a success keeps nothing of its exit (not the stage's value, which may be large).
 */
class Event {
  constructor(
    readonly kind: Kind,
    readonly level: LogLevel.LogLevel,
    readonly stage: StageNode | undefined,
    readonly request: RequestRecord | undefined,
    readonly failure: Cause.Cause<unknown> | undefined,
    readonly summary: RequestSummary | undefined,
    readonly endNanos: bigint,
    readonly durationMs: number,
  ) {}
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

/** The record of an event. */
export const render = (event: Event): Entry => {
  switch (event.kind) {
    case Kind.StageStart: {
      const node = event.stage!
      return {
        level: event.level,
        message: "stage started",
        millis: nanosToMillis(node.startNanos),
        fields: stageFields(node),
      }
    }
    case Kind.StageEnd: {
      const node = event.stage!
      const failure = event.failure
      const success = failure === undefined
      const fields = stageFields(node)
      fields.duration_ms = round(event.durationMs)
      fields.success = success
      if (node.exec.recorded === true) fields.recorded = true
      if (node.exec.overBudget === true) {
        fields.over_budget = true
        if (node.exec.budgetMs !== undefined) fields.budget_ms = node.exec.budgetMs
      }
      if (failure !== undefined) {
        const error = node.exec.error ?? errorOf(failure)
        fields.error_type = error.type
        fields.error_message = error.message
        fields.error_category = error.category ?? basicCategory(failure)
      }
      return {
        level: event.level,
        message: success ? "stage completed" : "stage failed",
        millis: nanosToMillis(event.endNanos),
        fields,
      }
    }
    case Kind.RequestStart: {
      const record = event.request!
      return {
        level: event.level,
        message: "request started",
        millis: record.startTime,
        fields: requestFields(record),
      }
    }
    case Kind.RequestEnd: {
      const record = event.request!
      const summary = event.summary!
      const failure = event.failure
      const success = summary.success
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
          (failure !== undefined ? basicCategory(failure) : undefined)
      }
      return {
        level: event.level,
        message: success ? "request completed" : "request failed",
        millis: summary.startTime + summary.durationMs,
        fields,
      }
    }
  }
}

/**
 * Writes a batch of events to `loggers` from the background fiber, in one effect: each record's fields
 * become the fiber's log annotations while its loggers run (so every logger, the stagetrace one, the
 * tracer's or an OTLP one, sees the correlation ids), and the fiber's context is restored afterwards.
 */
const writeAll = (
  events: ReadonlyArray<Event>,
  loggers: ReadonlyArray<Logger.Logger<unknown, unknown>>,
): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const base = fiber.context
    try {
      for (let i = 0; i < events.length; i++) {
        let entry: Entry
        try {
          entry = render(events[i]!)
        } catch (error) {
          entry = {
            level: events[i]!.level,
            message: `stagetrace: could not render a lifecycle record: ${String(error)}`,
            millis: Date.now(),
            fields: {},
          }
        }
        fiber.setContext(Context.add(base, References.CurrentLogAnnotations, entry.fields))
        const options = {
          message: [entry.message],
          logLevel: entry.level,
          cause: Cause.empty,
          fiber,
          date: new Date(entry.millis),
        }
        for (let l = 0; l < loggers.length; l++) {
          try {
            loggers[l]!.log(options)
          } catch {
            // One failing logger must not stop the others.
          }
        }
      }
    } finally {
      fiber.setContext(base)
    }
    return Effect.void
  })

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

    const list = [...loggers]
    const { offer } = yield* BackgroundLog.makeWith<Event>(
      recorder,
      config.queueCapacity,
      "log_queue_full",
      (events) => writeAll(events, list),
    )

    if (stageStart) {
      const level = levels.stageStart
      recorder.stageStart.push((node) => {
        offer(new Event(Kind.StageStart, level, node, undefined, undefined, undefined, 0n, 0))
      })
    }
    if (stageEnd || stageFailure) {
      recorder.stageEnd.push((node, exit, endNanos, durationMs) => {
        const success = exit._tag === "Success"
        if (success ? !stageEnd : !stageFailure) return
        const level = success ? levels.stageEnd : levels.stageFailure
        const failure = exit._tag === "Failure" ? exit.cause : undefined
        offer(new Event(Kind.StageEnd, level, node, undefined, failure, undefined, endNanos, durationMs))
      })
    }
    if (requestStart) {
      const level = levels.requestStart
      recorder.requestStart.push((record) => {
        offer(new Event(Kind.RequestStart, level, undefined, record, undefined, undefined, 0n, 0))
      })
    }
    if (requestEnd || requestFailure) {
      // A request-end hook (not a summary sink) sees the exit; the log concern is installed after budgets
      // and errors, so `overBudget` and the error category are already set.
      recorder.requestEnd.push((record, summary: RequestSummary, exit) => {
        const success = summary.success
        if (success ? !requestEnd : !requestFailure) return
        const level = success ? levels.requestEnd : levels.requestFailure
        const failure = exit._tag === "Failure" ? exit.cause : undefined
        offer(new Event(Kind.RequestEnd, level, undefined, record, failure, summary, 0n, 0))
      })
    }
  })
