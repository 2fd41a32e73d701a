/**
 * Request and stage tracking: `Request`, `Stage`, `StageStats`, `Summaries`.
 *
 * Guides: [Requests and stages](../../docs/requests-and-stages.md),
 * [Statistics and summaries](../../docs/statistics-and-summaries.md).
 *
 * @module
 */

/**
 * Requests: one unit of work whose stages are timed together; `Request.track`, `Request.summary`,
 * `Request.annotate`.
 *
 * Guide: [Requests and stages](../../docs/requests-and-stages.md).
 *
 * @example A request with one stage
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage } from "@stagetrace/stagetrace"
 *
 * const summary = await Effect.runPromise(
 *   Effect.andThen(Effect.void.pipe(Stage.track("auth_check")), Request.summary).pipe(Request.track("chat")),
 * )
 * assert.deepEqual(summary.stages.map((s) => s.stageId), ["auth_check"])
 * ```
 *
 * @since 0.1.0
 */
export * as Request from "./Request.ts"
/**
 * Stages: the timed steps of a request, each a real Effect span; `Stage.track`, `Stage.fn`,
 * `Stage.record`.
 *
 * Guide: [Requests and stages](../../docs/requests-and-stages.md).
 *
 * @example A stage never changes the result
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage } from "@stagetrace/stagetrace"
 *
 * assert.equal(await Effect.runPromise(Effect.succeed(42).pipe(Stage.track("answer"))), 42)
 * ```
 *
 * @since 0.1.0
 */
export * as Stage from "./Stage.ts"
/**
 * Per-stage statistics over every request, in bounded memory: count, success rate, mean, min, max and
 * p50/p90/p95/p99 from a DDSketch with 1% relative accuracy.
 *
 * Guide: [Stage statistics](../../docs/statistics-and-summaries.md#stage-statistics).
 *
 * @example Statistics of one stage
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Stage, StageStats, Telemetry } from "@stagetrace/stagetrace"
 *
 * const stats = await Effect.runPromise(
 *   Stage.record("llm_request", { durationMs: 40 }).pipe(
 *     Effect.andThen(StageStats.get("llm_request")),
 *     Effect.provide(Telemetry.layer()),
 *   ),
 * )
 * assert.equal(stats?.count, 1)
 * ```
 *
 * @since 0.1.0
 */
export * as StageStats from "./StageStats.ts"
/**
 * Summaries of completed requests — every request, whatever sampling decides — in a bounded ring;
 * `Summaries.recent`, `Summaries.stream`, `Summaries.waterfall`.
 *
 * Guide: [Request summaries](../../docs/statistics-and-summaries.md#request-summaries).
 *
 * @example The latest request
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const [latest] = await Effect.runPromise(
 *   Effect.void.pipe(Request.track("chat"), Effect.andThen(Summaries.recent(1)), Effect.provide(Telemetry.layer())),
 * )
 * assert.equal(latest?.name, "chat")
 * ```
 *
 * @since 0.1.0
 */
export * as Summaries from "./Summaries.ts"
