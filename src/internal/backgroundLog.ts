/**
 * Logging from the hot path without running an effect there: a recorder hook offers a log entry to a
 * bounded queue (synchronously; a full or closed queue drops the entry and counts it on the recorder), and a
 * background fiber in the telemetry layer's scope takes the entries in batches and writes them through
 * Effect's `Logger`. When the layer closes, the entries still queued are written before the fiber stops, so
 * shutdown loses none.
 *
 * `make` writes as `Effect.logWithLevel` would in the context the telemetry layer was built in: loggers
 * provided around `Telemetry.layer` (or by the log concern, installed before) receive the entries, filtered
 * by the minimum log level, a batch per effect. `makeWith` is the same queue and fiber with a batch writer of the caller's (the
 * log lifecycle records go to explicit loggers, with the time of the event).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as daemon from "./daemon.ts"
import type { Recorder } from "./recorder.ts"

/** A log record's content. */
export interface LogRecord {
  /** The log message (redacted). */
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

/**
 * Writes a batch of entries as `Effect.logWithLevel(level)(message)` annotated with the entry's annotations
 * would, in one effect: the fiber's minimum log level filters, its loggers receive each record with its
 * annotations set on the fiber (and the fiber's context restored afterwards). A logger that throws does not
 * stop the others, nor the entries after it; an entry that cannot be rendered is written as an error saying
 * so.
 */
const writeAll = (entries: ReadonlyArray<LogEntry>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const loggers = fiber.getRef(References.CurrentLoggers)
    if (loggers.size === 0) return Effect.void
    const minimum = fiber.getRef(References.MinimumLogLevel)
    const clock = fiber.getRef(Clock.Clock)
    const base = fiber.context
    const inherited = fiber.getRef(References.CurrentLogAnnotations)
    const merge = Object.keys(inherited).length > 0
    try {
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!
        if (LogLevel.isGreaterThan(minimum, entry.level)) continue
        let record: LogRecord
        try {
          record = entry.render()
        } catch (error) {
          record = { message: `stagetrace: could not render a log record: ${String(error)}`, annotations: {} }
        }
        const annotations = merge ? { ...inherited, ...record.annotations } : record.annotations
        fiber.setContext(Context.add(base, References.CurrentLogAnnotations, annotations))
        const options = {
          message: [record.message],
          logLevel: entry.level,
          cause: Cause.empty,
          fiber,
          date: new Date(clock.currentTimeMillisUnsafe()),
        }
        for (const logger of loggers) {
          try {
            logger.log(options)
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
 * Starts a background writer in the current scope: entries offered are written by `writeAll`, a batch at a
 * time and in order, from one fiber. `dropReason` names the counter (on `recorder.drops`) of entries dropped
 * because `capacity` entries were already waiting, or because the scope was closing; without a recorder,
 * `offer` only returns `false` and the caller counts.
 */
export const makeWith = <A>(
  recorder: Recorder | undefined,
  capacity: number,
  dropReason: string,
  writeAll: (entries: ReadonlyArray<A>) => Effect.Effect<void>,
): Effect.Effect<BackgroundLog<A>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.dropping<A>(capacity)
    // A batch taken is written whole: closing waits for it rather than losing its tail.
    const fiber = yield* Effect.forkDetach(
      daemon.forever(
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
        recorder?.countDrop(dropReason)
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
): Effect.Effect<BackgroundLog, never, Scope.Scope> => makeWith(recorder, capacity, dropReason, writeAll)
