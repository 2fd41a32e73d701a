/**
 * Sampling: consistent head sampling (OpenTelemetry `ot=th` thresholds) and in-process tail sampling that
 * keeps every failed, slow, over-budget and forced request.
 *
 * Guide: [Sampling](../../docs/sampling.md).
 *
 * @module
 */

/**
 * Head samplers: `Sampler.consistentRatio`, `Sampler.parentBased`, `Sampler.rules`, `Sampler.alwaysOn`,
 * `Sampler.alwaysOff`; `Sampler.stats` counts what was kept and dropped.
 *
 * Guide: [Sampling](../../docs/sampling.md).
 *
 * @example 10% of the requests, honouring upstream decisions
 * ```ts
 * import assert from "node:assert/strict"
 * import { Sampler } from "@stagetrace/stagetrace"
 *
 * const sampler = Sampler.parentBased(Sampler.consistentRatio(0.1))
 * assert.equal(sampler.description, "ParentBased{root=ConsistentRatio{0.1}}")
 * ```
 *
 * @since 0.1.0
 */
export * as Sampler from "./Sampler.ts"
