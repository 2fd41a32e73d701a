/**
 * Metrics: `Metrics` (definitions, recording, wrappers, thresholds), `MetricCatalogue` (the standard and
 * toolkit metrics) and `Prometheus` (the exposition endpoint).
 *
 * Guide: [Metrics and Prometheus](../../docs/metrics-and-prometheus.md).
 *
 * @module
 */

/**
 * Typed metrics over Effect's `Metric`: definitions validated against the Prometheus naming rules,
 * recording that never fails (bad samples are dropped and counted), bounded series, and wrappers
 * (`Metrics.track`, `Metrics.measureLatency`, `Metrics.countCalls`, `Metrics.trackLlmUsage`,
 * `Metrics.cacheMetrics`).
 *
 * Guide: [Metrics and Prometheus](../../docs/metrics-and-prometheus.md).
 *
 * @example A counter of your own
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Metrics } from "@stagetrace/stagetrace"
 *
 * const orders = Metrics.defineUnsafe({ name: "shop_orders_total", type: "counter", description: "Orders" })
 * const value = await Effect.runPromise(
 *   Metrics.increment(orders).pipe(Effect.andThen(Metrics.value(orders)), Effect.provide(Metrics.layer())),
 * )
 * assert.equal(value, 1)
 * ```
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"
/**
 * The standard metric catalogue (HTTP, database, LLM, RAG, embedding, system, error and circuit breaker
 * metrics) and stagetrace's own metrics (stages, requests, budgets, errors, drops, export).
 *
 * Guide: [Catalogue](../../docs/metrics-and-prometheus.md#catalogue-metriccatalogue).
 *
 * @example Recording a catalogue metric
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { MetricCatalogue, Metrics } from "@stagetrace/stagetrace"
 *
 * const tokens = { provider: "openai", model: "small", type: "prompt" }
 * const value = await Effect.runPromise(
 *   Metrics.increment(MetricCatalogue.llmTokensUsedTotal, tokens, 512).pipe(
 *     Effect.andThen(Metrics.value(MetricCatalogue.llmTokensUsedTotal, tokens)),
 *     Effect.provide(Metrics.layer()),
 *   ),
 * )
 * assert.equal(MetricCatalogue.llmTokensUsedTotal.name, "llm_tokens_used_total")
 * assert.equal(value, 512)
 * ```
 *
 * @since 0.1.0
 */
export * as MetricCatalogue from "./MetricCatalogue.ts"
/**
 * The Prometheus endpoint: the text format 0.0.4 and OpenMetrics 1.0, negotiated from `Accept`; a server
 * (`Prometheus.layerServer`, or `Telemetry.layer({ prometheus })`), a web handler, or the text itself.
 *
 * Guide: [Prometheus](../../docs/metrics-and-prometheus.md#prometheus).
 *
 * @example The exposition from code
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Prometheus, Stage, Telemetry } from "@stagetrace/stagetrace"
 *
 * const text = await Effect.runPromise(
 *   Effect.void.pipe(Stage.track("auth_check"), Effect.andThen(Prometheus.format()), Effect.provide(Telemetry.layer())),
 * )
 * assert.match(text, /stagetrace_stage_duration_seconds_count\{stage="auth_check",status="ok"\} 1/)
 * ```
 *
 * @since 0.1.0
 */
export * as Prometheus from "./Prometheus.ts"
export { MetricDefinitionError } from "./internal/definition.ts"
