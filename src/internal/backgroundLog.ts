/**
 * Logging from the hot path without running an effect there: a recorder hook offers a log entry to a
 * bounded queue (synchronously; a full or closed queue drops the entry and counts it on the recorder), and a
 * background fiber in the telemetry layer's scope takes the entries in batches and writes them through
 * Effect's `Logger`. When the layer closes, the entries still queued are written before the fiber stops, so
 * shutdown loses none.
 *
 * `make` writes with `Effect.logWithLevel` in the context the telemetry layer was built in: loggers
 * provided around `Telemetry.layer` (or by the log concern, installed before) receive the entries, filtered
 * by the minimum log level. `makeWith` is the same queue and fiber with a batch writer of the caller's (the
 * log lifecycle records go to explicit loggers, with the time of the event).
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
export interface BackgroundLog<A = LogEntry> {
  /** Queues `entry`; returns `false` (and counts a drop) when the queue is full or closed. */
  readonly offer: (entry: A) => boolean
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
 * Starts a background writer in the current scope: entries offered are written by `writeAll`, a batch at a
 * time and in order, from one fiber. `dropReason` names the counter (on `recorder.drops`) of entries dropped
 * because `capacity` entries were already waiting, or because the scope was closing.
 */
export const makeWith = <A>(
  recorder: Recorder,
  capacity: number,
  dropReason: string,
  writeAll: (entries: ReadonlyArray<A>) => Effect.Effect<void>,
): Effect.Effect<BackgroundLog<A>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.dropping<A>(capacity)
    // A batch taken is written whole: closing waits for it rather than losing its tail.
    const fiber = yield* Effect.forkDetach(
      Effect.forever(
        Effect.flatMap(Queue.takeAll(queue), (batch) => Effect.uninterruptible(writeAll(batch))),
      ),
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Fiber.interrupt(fiber)
        const rest = yield* Queue.clear(queue)
        yield* Queue.shutdown(queue)
        yield* writeAll(rest)
      })
    )
    return {
      offer: (entry: A): boolean => {
        if (Queue.offerUnsafe(queue, entry)) return true
        recorder.countDrop(dropReason)
        return false
      },
    }
  })

/**
 * Starts a background logger in the current scope, writing through the loggers of the context it is
 * started in. `dropReason` names the counter (on `recorder.drops`) of entries dropped because `capacity`
 * entries were already waiting.
 */
export const make = (
  recorder: Recorder,
  capacity: number,
  dropReason: string,
): Effect.Effect<BackgroundLog, never, Scope.Scope> =>
  makeWith(recorder, capacity, dropReason, (entries) => Effect.forEach(entries, write, { discard: true }))
