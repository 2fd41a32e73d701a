/**
 * Request and stage tracking: `Request`, `Stage`, `StageStats`, `Summaries`.
 *
 * @module
 */

/** Requests: `Request.track`, `Request.summary`. @since 0.1.0 */
export * as Request from "./Request.ts"
/** Stages: `Stage.track`, `Stage.fn`, `Stage.record`. @since 0.1.0 */
export * as Stage from "./Stage.ts"
/** Per-stage statistics in bounded memory. @since 0.1.0 */
export * as StageStats from "./StageStats.ts"
/** Summaries of completed requests. @since 0.1.0 */
export * as Summaries from "./Summaries.ts"
