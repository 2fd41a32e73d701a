/**
 * Logging from the hot path without running an effect there: a stage-end hook offers a log entry to a
 * bounded queue (synchronously; a full queue drops the entry and counts it on the recorder), and a
 * background fiber in the telemetry layer's scope writes the entries through Effect's `Logger`. When the
 * layer closes, the entries still queued are written before the fiber stops, so shutdown loses none.
 *
 * The fiber runs in the context the telemetry layer was built in: loggers provided around
 * `Telemetry.layer` (or by a concern layer merged before it) receive the entries.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Recorder } from "./recorder.ts"

/** A log record's content. */
export interface LogRecord {
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/**
 * One log record waiting to be written. `render` builds the message and annotations in the background
 * fiber, so the hot path pays for neither the formatting nor the annotation object.
 */
export interface LogEntry {
  readonly level: LogLevel.Severity
  readonly render: () => LogRecord
}

/** The hot-path side of a background logger. */
export interface BackgroundLog {
  /** Queues `entry`; returns `false` (and counts a drop) when the queue is full or closed. */
  readonly offer: (entry: LogEntry) => boolean
}

const write = (entry: LogEntry): Effect.Effect<void> =>
  Effect.suspend(() => {
    let record: LogRecord
    try {
      record = entry.render()
    } catch (error) {
      record = { message: `stagetrace: could not render a log record: ${String(error)}`, annotations: {} }
    }
    return Effect.logWithLevel(entry.level)(record.message).pipe(Effect.annotateLogs(record.annotations))
  })

/**
 * Starts a background logger in the current scope. `dropReason` names the counter (on
 * `recorder.drops`) of entries dropped because `capacity` entries were already waiting.
 */
export const make = (
  recorder: Recorder,
  capacity: number,
  dropReason: string,
): Effect.Effect<BackgroundLog, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.dropping<LogEntry>(capacity)
    const fiber = yield* Effect.forkDetach(
      Effect.forever(Effect.flatMap(Queue.take(queue), write)),
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Fiber.interrupt(fiber)
        const rest = yield* Queue.clear(queue)
        for (const entry of rest) yield* write(entry)
        yield* Queue.shutdown(queue)
      })
    )
    return {
      offer: (entry: LogEntry): boolean => {
        if (Queue.offerUnsafe(queue, entry)) return true
        recorder.countDrop(dropReason)
        return false
      },
    }
  })
