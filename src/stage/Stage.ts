/**
 * Stages: the timed steps of a request (`auth_check`, `kb_access`, `llm_request`…), each a real Effect
 * span. `Stage.track` wraps an effect, `Stage.fn` wraps every call of a function, `Stage.record` records a
 * step that already happened. A stage inside a stage is a sub-stage.
 *
 * Every stage end feeds, synchronously and in bounded memory, the per-stage statistics (`StageStats`), the
 * request's summary (`Request.summary`) and whatever the telemetry layer installed (budgets, error
 * classification, metrics). Stages never fail or change the result of the effect they wrap.
 *
 * Where stages go (OTLP, Prometheus, JSONL…) is configured once, on `Telemetry.layer`.
 *
 * Guide: [Requests and stages](../../docs/requests-and-stages.md).
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type { StageOptions } from "../internal/stageModel.ts"
import { measureMemory } from "./internal/memory.ts"
import { makeSpec, recordStage, type StageSpec, trackStage } from "./internal/tracking.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: StageOutcome, StageError, StageExecution, StageOptions (declared below the concerns, which all
// read them), RecordOptions
// ---------------------------------------------------------------------------------------------------------

export * from "../internal/stageModel.ts"

/**
 * Options of `Stage.record`.
 *
 * @category models
 * @since 0.1.0
 */
export interface RecordOptions extends StageOptions {
  /**
   * How long the stage took. Without it: the time since the previous stage of this request ended, or
   * since the request started. Outside a request it is required (a record without it is dropped and
   * counted). A negative or non-finite value is dropped and counted.
   */
  readonly durationMs?: number | undefined
  /**
   * Whether the stage succeeded.
   * @default true
   */
  readonly success?: boolean | undefined
  /** The error the stage failed with, when `success` is `false`. */
  readonly error?: unknown
}

// ---------------------------------------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------------------------------------

/**
 * Runs an effect as a stage of the current request: a child span named after the stage and carrying
 * `stage.id`, `stage.name` and `request.id`, whose status comes from the effect's `Exit`. A failure
 * records the error's type and message. Outside any request it still makes a span and feeds statistics.
 *
 * Works data-last (`effect.pipe(Stage.track("kb_access"))`) and data-first
 * (`Stage.track(effect, "kb_access")`).
 *
 * @example Timing a stage inside a request
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage } from "@stagetrace/stagetrace"
 *
 * const program = Effect.gen(function* () {
 *   yield* Effect.succeed("user-1").pipe(Stage.track("auth_check"))
 *   return yield* Request.summary
 * }).pipe(Request.track("chat"))
 *
 * const summary = await Effect.runPromise(program)
 * assert.equal(summary.stages[0]?.stageId, "auth_check")
 * assert.equal(summary.stages[0]?.success, true)
 * ```
 *
 * @category stages
 * @since 0.1.0
 */
export const track: {
  (stageId: string, options?: StageOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, stageId: string, options?: StageOptions): Effect.Effect<A, E, R>
} =
  // Written out rather than with `dual` (which copies `arguments` on every call): it runs on every build.
  (<A, E, R>(
    first: Effect.Effect<A, E, R> | string,
    second?: string | StageOptions,
    third?: StageOptions,
  ): Effect.Effect<A, E, R> | (<A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => {
    // The overloads tell an effect from a stage id; `typeof` does not go through `dual` (which reads
    // `arguments`, an allocation per call where it is not optimized away).
    if (typeof first !== "string") {
      const stageId = second as string
      return trackStage(
        third?.memory === true ? measureMemory(first, stageId) : first,
        makeSpec(stageId, third),
      )
    }
    return trackLast(first, second as StageOptions | undefined)
  }) as never

/**
 * `Stage.track`'s data-last form. Its own function: a closure written in `track` would make every call of
 * `track` allocate the variables it captures, data-first calls included.
 */
const trackLast = (
  stageId: string,
  options: StageOptions | undefined,
): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> => {
  const spec = makeSpec(stageId, options)
  return <A, E, R>(self: Effect.Effect<A, E, R>) =>
    trackStage(options?.memory === true ? measureMemory(self, stageId) : self, spec)
}

/**
 * Like `Effect.fn`: returns a function whose every call runs as the stage `stageId`. The body is a
 * generator function; extra arguments are pipeables applied inside the stage.
 *
 * @example A stage per call
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const lookup = Stage.fn("kb_lookup")(function* (query: string) {
 *   return query.length
 * })
 *
 * const stats = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* lookup("a")
 *     yield* lookup("bb")
 *     return yield* StageStats.get("kb_lookup")
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(stats?.count, 2)
 * ```
 *
 * @category stages
 * @since 0.1.0
 */
export const fn = (stageId: string, options?: StageOptions): Effect.fn.Untraced => {
  const spec: StageSpec = makeSpec(stageId, options)
  const memory = options?.memory === true
  return function (this: unknown) {
    // deno-lint-ignore no-explicit-any
    const body = (Effect.fnUntraced as any).apply(this, arguments)
    return function (this: unknown) {
      const effect = body.apply(this, arguments)
      return trackStage(memory ? measureMemory(effect, stageId) : effect, spec)
    }
  } as unknown as Effect.fn.Untraced
}

/**
 * Records a stage that already happened and ends now: with an explicit `durationMs`, or without it the
 * time since the previous stage of this request ended (or since the request started). It makes a span
 * with those times and feeds statistics, budgets and metrics like any other stage.
 *
 * @example Recording stages measured elsewhere
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Stage.record("llm_request", { durationMs: 120, metadata: { model: "small" } })
 *     return yield* Request.summary
 *   }).pipe(Request.track("chat")),
 * )
 * assert.equal(summary.stages[0]?.durationMs, 120)
 * assert.equal(summary.stages[0]?.recorded, true)
 * ```
 *
 * @category stages
 * @since 0.1.0
 */
export const record = (stageId: string, options?: RecordOptions): Effect.Effect<void> =>
  recordStage({
    ...makeSpec(stageId, options),
    durationMs: options?.durationMs,
    success: options?.success ?? true,
    error: options?.error,
  })
