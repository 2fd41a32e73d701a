/**
 * Requests: one unit of work (an HTTP request, a chat turn, a job) whose stages are timed together.
 * `Request.track` runs an effect as a request — a span with a request id — and keeps the request's state
 * in the fiber context: concurrent requests never see each other's stages, and the state is released when
 * the request ends, so no cleanup call exists or is needed.
 *
 * When the request ends its `RequestSummary` (stages, bottlenecks, outcome) goes to `Summaries` and to the
 * exporters installed by `Telemetry.layer`.
 *
 * Guide: [Requests and stages](../../docs/requests-and-stages.md).
 *
 * @module
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CurrentRecorder } from "../internal/recorder.ts"
import {
  currentRequest,
  makeRequestSpec,
  noRequest,
  type RequestSpec,
  summarize,
  trackRequest,
} from "./internal/tracking.ts"
import type { RequestOptions, RequestSummary } from "../internal/requestModel.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: Bottleneck, KeptBecause, RequestSummary, RemoteParent, RequestOptions (declared below the
// concerns, which all read them)
// ---------------------------------------------------------------------------------------------------------

export * from "../internal/requestModel.ts"

// ---------------------------------------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------------------------------------

/**
 * Runs an effect as one request named `name`: a span with a `request.id` attribute (from
 * `options.requestId`, else a random UUID) whose stages are collected into a `RequestSummary`.
 *
 * Works data-last (`effect.pipe(Request.track("chat"))`) and data-first (`Request.track(effect, "chat")`).
 *
 * @example Two concurrent requests keep their own stages
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage } from "@stagetrace/stagetrace"
 *
 * const handle = (id: string) =>
 *   Effect.gen(function* () {
 *     yield* Effect.void.pipe(Stage.track(`stage_${id}`))
 *     return yield* Request.summary
 *   }).pipe(Request.track("chat", { requestId: id }))
 *
 * const [a, b] = await Effect.runPromise(Effect.all([handle("a"), handle("b")], { concurrency: 2 }))
 * assert.deepEqual(a.stages.map((s) => s.stageId), ["stage_a"])
 * assert.deepEqual(b.stages.map((s) => s.stageId), ["stage_b"])
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const track: {
  (name: string, options?: RequestOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options?: RequestOptions): Effect.Effect<A, E, R>
} =
  // Written out rather than with `dual` (which copies `arguments` on every call): it runs on every build.
  (<A, E, R>(
    first: Effect.Effect<A, E, R> | string,
    second?: string | RequestOptions,
    third?: RequestOptions,
  ): Effect.Effect<A, E, R> | (<A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => {
    // `typeof` rather than `Effect.isEffect` (see `Stage.track`).
    if (typeof first !== "string") return trackRequest(first, makeRequestSpec(second as string, third))
    return trackLast(makeRequestSpec(first as string, second as RequestOptions | undefined))
  }) as never

/** `Request.track`'s data-last form, a function of its own (see `Stage.track`). */
const trackLast = (spec: RequestSpec) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  trackRequest(self, spec)

/**
 * The current request's summary so far: finished stages as they ended, running ones with status
 * `running` and the time they have run so far; the request's own `status` is `running`. Fails with
 * `NoSuchElementError` outside a request.
 *
 * Like every summary handed out (`Summaries.recent` and `stream`, exporters, the Promise API), it is
 * redacted with the telemetry layer's redactor (the default one without a layer): attributes, stage
 * metadata and error messages show `[EMAIL]`, `[REDACTED]`… where the recorded values had personal data
 * or secrets (`redaction: false` keeps them). Each call builds a new snapshot; the request's own
 * recorded values are not changed.
 *
 * @example Reading the summary inside a request
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Effect.void.pipe(Stage.track("auth_check"))
 *     return yield* Request.summary.pipe(Stage.track("llm_request"))
 *   }).pipe(Request.track("chat")),
 * )
 * assert.deepEqual(summary.stages.map((s) => [s.stageId, s.status]), [["auth_check", "ok"], ["llm_request", "running"]])
 * assert.equal(summary.status, "running")
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const summary: Effect.Effect<RequestSummary, Cause.NoSuchElementError> = Effect.withFiber((fiber) => {
  const record = currentRequest(fiber)
  if (record === undefined) return Effect.fail(noRequest())
  const recorder = record.recorder
  const durationMs = Number(fiber.getRef(Clock.Clock).currentTimeNanosUnsafe() - record.startNanos) /
    1_000_000
  const snapshot = summarize(recorder, record, durationMs, undefined)
  // The snapshot's stages and attributes are copies: redacting them leaves the running request alone.
  if (recorder.redactSummary !== undefined) recorder.redactSummary(snapshot)
  return Effect.succeed(snapshot)
})

/**
 * The current request's id, if the effect runs inside a request.
 *
 * @example Reading the request id
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Option } from "effect"
 * import { Request } from "@stagetrace/stagetrace"
 *
 * const id = await Effect.runPromise(Request.currentId.pipe(Request.track("chat", { requestId: "req-1" })))
 * assert.deepEqual(id, Option.some("req-1"))
 * assert.deepEqual(await Effect.runPromise(Request.currentId), Option.none())
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const currentId: Effect.Effect<Option.Option<string>> = Effect.withFiber((fiber) => {
  const record = currentRequest(fiber)
  return Effect.succeed(record === undefined ? Option.none() : Option.some(record.requestId))
})

/**
 * Most attributes one request keeps; `Request.annotate` with a new key past it is dropped and counted
 * (`request_attributes_full`).
 *
 * @example The bound
 * ```ts
 * import assert from "node:assert/strict"
 * import { Request } from "@stagetrace/stagetrace"
 *
 * assert.equal(Request.maxRequestAttributes, 128)
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const maxRequestAttributes: number = 128

/**
 * Adds an attribute to the current request: on its span and in its summary's `attributes`. Does nothing
 * outside a request; past `maxRequestAttributes` distinct keys, new keys are dropped and counted.
 *
 * @example Annotating the current request
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     yield* Request.annotate("user.tier", "free")
 *     return yield* Request.summary
 *   }).pipe(Request.track("chat")),
 * )
 * assert.equal(summary.attributes["user.tier"], "free")
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const annotate = (key: string, value: unknown): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const record = currentRequest(fiber)
    if (record !== undefined) {
      if (Object.isFrozen(record.attributes)) record.attributes = { ...record.attributes }
      else if (!(key in record.attributes) && Object.keys(record.attributes).length >= maxRequestAttributes) {
        // A request that annotates ever-new keys must not grow without bound.
        record.recorder.countDrop("request_attributes_full")
        return Effect.void
      }
      record.attributes[key] = value
      record.span.attribute(key, value)
    }
    return Effect.void
  })

/**
 * Number of requests running right now under the current telemetry layer.
 *
 * @example Counting running requests
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Telemetry } from "@stagetrace/stagetrace"
 *
 * const [inside, after] = await Effect.runPromise(
 *   Effect.gen(function* () {
 *     const inside = yield* Request.inFlight.pipe(Request.track("chat"))
 *     return [inside, yield* Request.inFlight]
 *   }).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(inside, 1)
 * assert.equal(after, 0)
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const inFlight: Effect.Effect<number> = Effect.withFiber((fiber) =>
  Effect.succeed(fiber.getRef(CurrentRecorder).inFlight)
)
