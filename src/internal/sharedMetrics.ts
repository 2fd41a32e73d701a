/**
 * Names, descriptions and labels of the metrics that one concern records and another documents (budgets
 * and errors count through Effect's `Metric`; the metrics catalogue defines the same families). Effect keys a
 * series by name and description, so both must use exactly these.
 *
 * @internal
 */

/** `stagetrace_budget_violations_total{stage}`. */
export const budgetViolationsMetric = {
  name: "stagetrace_budget_violations_total",
  description: "Stages and requests that took longer than their latency budget",
  labels: ["stage"],
} as const

/** `stagetrace_errors_total{category, stage}`. */
export const errorsMetric = {
  name: "stagetrace_errors_total",
  description: "Failed stages and requests, by error category and the stage where the error happened",
  labels: ["category", "stage"],
} as const

/** `stagetrace_latency_anomalies_total{stage}`. */
export const latencyAnomaliesMetric = {
  name: "stagetrace_latency_anomalies_total",
  description: "Latency anomalies: windows in which a stage's p95 rose above its own recent baseline",
  labels: ["stage"],
} as const
