/**
 * Metrics: `Metrics` (definitions, recording, wrappers, thresholds), `MetricCatalogue` (the standard and
 * toolkit metrics) and `Prometheus` (the exposition endpoint).
 *
 * @module
 */

/** Typed metrics over Effect's `Metric`. @since 0.1.0 */
export * as Metrics from "./Metrics.ts"
/** The standard metric catalogue and stagetrace's own metrics. @since 0.1.0 */
export * as MetricCatalogue from "./MetricCatalogue.ts"
/** The Prometheus endpoint. @since 0.1.0 */
export * as Prometheus from "./Prometheus.ts"
export { MetricDefinitionError } from "./internal/definition.ts"
