/**
 * The summaries of completed requests — every request, whatever sampling later decides for export.
 * `Summaries.recent(limit)` reads a bounded ring (the last `summaryCapacity` requests, default 1000),
 * newest first; `Summaries.stream` follows new summaries as they complete, for sinks.
 *
 * Guide: [Statistics and summaries](../../docs/statistics-and-summaries.md#request-summaries).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { CurrentRecorder } from "../internal/recorder.ts"
import type { RequestSummary } from "./Request.ts"
import { renderWaterfall } from "./internal/waterfall.ts"

/**
 * Up to `limit` summaries of the most recently completed requests, newest first.
 *
 * @example The latest requests
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const recent = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     for (const id of ["a", "b", "c"]) yield* Effect.void.pipe(Stage.track("auth_check"), Request.track("chat", { requestId: id }))
 *     return yield* Summaries.recent(2)
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.deepEqual(recent.map((s) => s.requestId), ["c", "b"])
 * ```
 *
 * @category summaries
 * @since 0.1.0
 */
export const recent = (limit: number = 1000): Effect.Effect<ReadonlyArray<RequestSummary>> =>
  Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(CurrentRecorder).summaries.recent(limit)))

/**
 * Options of `Summaries.stream`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamOptions {
  /**
   * Summaries buffered for a slow consumer (besides the batch it is working through); past it, new
   * summaries are dropped for this subscriber and counted as the drop `summary_stream_full`
   * (`stagetrace_dropped_samples_total`). A value that is not a finite number ≥ 0 means the default.
   * @default 1024
   */
  readonly bufferSize?: number | undefined
}

/** A finite size ≥ 0, else the default: a NaN or infinite size would make the buffer unbounded. */
const bufferSizeOf = (size: number | undefined): number =>
  typeof size === "number" && size >= 0 && size !== Infinity ? Math.floor(size) : 1024

/**
 * Summaries of requests that complete after the stream starts, in completion order. Each subscriber has
 * its own bounded buffer, so a slow sink never holds memory without bound (drops are counted).
 *
 * @example Following completed requests
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Fiber, Stream } from "effect"
 * import { Request, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const ids = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const fiber = yield* Summaries.stream().pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
 *     yield* Effect.yieldNow
 *     yield* Effect.void.pipe(Request.track("chat", { requestId: "a" }))
 *     yield* Effect.void.pipe(Request.track("chat", { requestId: "b" }))
 *     return (yield* Fiber.join(fiber)).map((s) => s.requestId)
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.deepEqual(ids, ["a", "b"])
 * ```
 *
 * @category summaries
 * @since 0.1.0
 */
export const stream = (options?: StreamOptions): Stream.Stream<RequestSummary> =>
  Stream.callback<RequestSummary>(
    (queue) =>
      Effect.withFiber((fiber) => {
        const recorder = fiber.getRef(CurrentRecorder)
        const store = recorder.summaries
        const listener = (summary: RequestSummary) => {
          if (Queue.offerUnsafe(queue, summary)) return true
          recorder.countDrop("summary_stream_full")
          return false
        }
        store.listeners.add(listener)
        return Effect.addFinalizer(() => Effect.sync(() => store.listeners.delete(listener)))
      }),
    { bufferSize: bufferSizeOf(options?.bufferSize), strategy: "dropping" },
  )

/**
 * Number of summaries held and ever completed under the current telemetry layer.
 *
 * @example Held and total
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const size = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     for (let i = 0; i < 3; i++) yield* Effect.void.pipe(Request.track("chat"))
 *     return yield* Summaries.size
 *   }).pipe(Effect.provide(Telemetry.layer({ summaryCapacity: 2 }))),
 * )
 * assert.deepEqual(size, { held: 2, total: 3 })
 * ```
 *
 * @category summaries
 * @since 0.1.0
 */
export const size: Effect.Effect<{ readonly held: number; readonly total: number }> = Effect.withFiber(
  (fiber) => {
    const store = fiber.getRef(CurrentRecorder).summaries
    return Effect.succeed({ held: store.size, total: store.total })
  },
)

/**
 * Options of `Summaries.waterfall`.
 *
 * @category models
 * @since 0.1.0
 */
export interface WaterfallOptions {
  /**
   * Width of the bar column, in characters.
   * @default 40
   */
  readonly width?: number | undefined
  /**
   * Colour the output with ANSI escapes.
   * @default false
   */
  readonly colors?: boolean | undefined
}

/**
 * Renders a summary as a text stage waterfall: one line per stage (sub-stages indented) with a bar at
 * its offset scaled to its duration, its duration and its outcome, then the bottlenecks.
 *
 * @example Printing a waterfall
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage, Summaries } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Stage.record("auth_check", { durationMs: 10 })
 *     yield* Stage.record("llm_request", { durationMs: 30 })
 *     return yield* Request.summary
 *   }).pipe(Request.track("chat", { requestId: "r-1" })),
 * )
 * const text = Summaries.waterfall(summary, { width: 20 })
 * assert.match(text, /auth_check/)
 * assert.match(text, /bottlenecks: llm_request/)
 * ```
 *
 * @category summaries
 * @since 0.1.0
 */
export const waterfall = (summary: RequestSummary, options?: WaterfallOptions): string =>
  renderWaterfall(summary, options)
