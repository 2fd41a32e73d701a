/**
 * Sampling: consistent head sampling (OpenTelemetry `ot=th` thresholds) and in-process tail sampling that
 * keeps every failed, slow, over-budget and forced request.
 *
 * @module
 */

/** Head samplers: `Sampler.consistentRatio`, `parentBased`, `rules`, `alwaysOn`, `alwaysOff`. @since 0.1.0 */
export * as Sampler from "./Sampler.ts"
