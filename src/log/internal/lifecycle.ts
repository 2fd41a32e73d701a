/**
 * Request and stage lifecycle records without running effects or building records on the hot path:
 * recorder hooks offer a small event (only when its level is enabled) holding references to the stage or
 * request, its failure if any and its times, synchronously, to the shared background logger
 * (`src/internal/backgroundLog.ts`); its fiber in the owning layer's scope renders the records (fields,
 * correlation ids, error description) and hands them to that layer's loggers, a batch at a time in one
 * effect, each with the recorder it came from in context (its service, its redactor). A full queue drops
 * the event and counts `log_queue_full` on that recorder; when the layer closes, its hooks are removed and
 * the events still queued are written.
 *
 * One sink per log configuration, attachable to recorders: `Telemetry.layer({ log })` attaches its own when
 * it is built; `Log.layer` provides its sink as the context's `Attachment`, so it attaches to the recorder
 * of the first request or stage run with it, whichever way the two layers are composed. A recorder has at
 * most one sink (the first attached, `Telemetry.layer({ log })`'s when it has one), so a record is never
 * written twice.
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
import type * as Exit from "effect/Exit"
import {
  type Attachment,
  CurrentRecorder,
  nanosToMillis,
  type Recorder,
  type RequestRecord,
  Slot,
  type StageNode,
} from "../../internal/recorder.ts"
import type { RequestSummary } from "../../stage/Request.ts"
import { errorOf } from "../../stage/internal/tracking.ts"
import { basicCategory } from "./category.ts"

/**
 * What the lifecycle records need of a validated log configuration (`LogConfig` of `Log.ts`, which imports
 * this module, has it): the minimum level, the level of each record (`undefined`: none) and the queue size.
 */
export interface LifecycleConfig {
  readonly level: LogLevel.LogLevel
  readonly lifecycle:
    | {
      readonly stageStart: LogLevel.LogLevel
      readonly stageEnd: LogLevel.LogLevel
      readonly stageFailure: LogLevel.LogLevel
      readonly requestStart: LogLevel.LogLevel
      readonly requestEnd: LogLevel.LogLevel
      readonly requestFailure: LogLevel.LogLevel
    }
    | undefined
  readonly queueCapacity: number
}

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
    readonly recorder: Recorder,
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
      if (node.exec.memoryDeltaBytes !== undefined) fields.memory_delta_bytes = node.exec.memoryDeltaBytes
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
        const event = events[i]!
        fiber.setContext(
          Context.add(
            Context.add(base, References.CurrentLogAnnotations, entry.fields),
            CurrentRecorder,
            event.recorder,
          ),
        )
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

/** The sink whose hooks a recorder runs, if any (so that no event is recorded twice). */
const LifecycleSlot: Slot<Attachment | undefined> = new Slot("log-lifecycle")

/**
 * Starts the background writer of a log configuration in the current scope and returns the sink that
 * installs the lifecycle hooks on a recorder (`attachTo`, once per recorder); `undefined` when every
 * record is off. When the scope closes, the hooks are removed from every recorder they were installed on,
 * then the queued records are written. `loggers` are the loggers the records go to.
 */
export const make = (
  config: LifecycleConfig,
  loggers: ReadonlySet<Logger.Logger<unknown, unknown>>,
): Effect.Effect<Attachment | undefined, never, Scope.Scope> =>
  Effect.gen(function* () {
    const levels = config.lifecycle
    if (levels === undefined) return undefined
    const enabled = (level: LogLevel.LogLevel) =>
      level !== "None" && !LogLevel.isGreaterThan(config.level, level)
    const stageStart = enabled(levels.stageStart)
    const stageEnd = enabled(levels.stageEnd)
    const stageFailure = enabled(levels.stageFailure)
    const requestStart = enabled(levels.requestStart)
    const requestEnd = enabled(levels.requestEnd)
    const requestFailure = enabled(levels.requestFailure)
    if (!stageStart && !stageEnd && !stageFailure && !requestStart && !requestEnd && !requestFailure) {
      return undefined
    }

    const list = [...loggers]
    const { offer: offerUnsafe } = yield* BackgroundLog.makeWith<Event>(
      undefined,
      config.queueCapacity,
      "log_queue_full",
      (events) => writeAll(events, list),
    )
    const offer = (event: Event) => {
      if (!offerUnsafe(event)) event.recorder.countDrop("log_queue_full")
    }

    /** What was installed on each recorder, to take it off again. */
    const installed = new Map<Recorder, () => void>()
    const sink: Attachment = {
      attachTo: (recorder) => {
        if (installed.has(recorder) || recorder.get(LifecycleSlot) !== undefined) return
        recorder.set(LifecycleSlot, sink)
        installed.set(recorder, installHooks(recorder))
      },
    }

    const installHooks = (recorder: Recorder): () => void => {
      const removals: Array<() => void> = []
      const add = <H>(list: Array<H>, hook: H) => {
        list.push(hook)
        removals.push(() => {
          const index = list.indexOf(hook)
          if (index >= 0) list.splice(index, 1)
        })
      }
      if (stageStart) {
        const level = levels.stageStart
        add(recorder.stageStart, (node: StageNode) => {
          offer(new Event(recorder, Kind.StageStart, level, node, undefined, undefined, undefined, 0n, 0))
        })
      }
      if (stageEnd || stageFailure) {
        add(recorder.stageEnd, (node: StageNode, exit: Exit.Exit<unknown, unknown>, durationMs) => {
          const success = exit._tag === "Success"
          if (success ? !stageEnd : !stageFailure) return
          const level = success ? levels.stageEnd : levels.stageFailure
          const failure = exit._tag === "Failure" ? exit.cause : undefined
          offer(
            new Event(
              recorder,
              Kind.StageEnd,
              level,
              node,
              undefined,
              failure,
              undefined,
              node.endNanos,
              durationMs,
            ),
          )
        })
      }
      if (requestStart) {
        const level = levels.requestStart
        add(recorder.requestStart, (record: RequestRecord) => {
          offer(new Event(recorder, Kind.RequestStart, level, undefined, record, undefined, undefined, 0n, 0))
        })
      }
      if (requestEnd || requestFailure) {
        // A request-end hook (not a summary sink) sees the exit; it runs after the budgets and errors hooks
        // (installed when their layer was built), so `overBudget` and the error category are already set.
        add(
          recorder.requestEnd,
          (record: RequestRecord, summary: RequestSummary, exit: Exit.Exit<unknown, unknown>) => {
            const success = summary.success
            if (success ? !requestEnd : !requestFailure) return
            const level = success ? levels.requestEnd : levels.requestFailure
            const failure = exit._tag === "Failure" ? exit.cause : undefined
            offer(new Event(recorder, Kind.RequestEnd, level, undefined, record, failure, summary, 0n, 0))
          },
        )
      }
      return () => {
        for (const remove of removals) remove()
        if (recorder.get(LifecycleSlot) === sink) recorder.set(LifecycleSlot, undefined)
      }
    }

    // Registered after the writer's: runs first, so no event is offered while the queue is written out.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const uninstall of installed.values()) uninstall()
        installed.clear()
      })
    )
    return sink
  })
