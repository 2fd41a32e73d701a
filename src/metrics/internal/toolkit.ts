/**
 * Definitions of stagetrace's own metrics. They are validated like user definitions (a test checks every
 * one), so `defineUnsafe` cannot throw here.
 *
 * @internal
 */
import { budgetViolationsMetric, errorsMetric, latencyAnomaliesMetric } from "../../internal/sharedMetrics.ts"
import { defineUnsafe } from "./definition.ts"

/** Buckets of the stage and request duration histograms, in seconds (1 ms to 60 s). */
export const stageBuckets: ReadonlyArray<number> = Object.freeze([
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
])

export const stageDurationDef = defineUnsafe({
  name: "stagetrace_stage_duration_seconds",
  type: "histogram",
  description: "Duration of every stage, by stage id and outcome (ok, error, interrupted)",
  unit: "seconds",
  labels: ["stage", "status"],
  buckets: stageBuckets,
})

/** Buckets of the stage heap-delta histogram, in bytes: ±64 KiB to ±64 MiB by powers of 4, up to 256 MiB. */
export const memoryDeltaBuckets: ReadonlyArray<number> = Object.freeze([
  -67_108_864,
  -16_777_216,
  -4_194_304,
  -1_048_576,
  -262_144,
  -65_536,
  0,
  65_536,
  262_144,
  1_048_576,
  4_194_304,
  16_777_216,
  67_108_864,
  268_435_456,
])

export const stageMemoryDeltaDef = defineUnsafe({
  name: "stagetrace_stage_memory_delta_bytes",
  type: "histogram",
  description:
    "Heap growth while a stage ran, by stage id, for stages measured with memory: true or stageMemory (negative when garbage collection freed more)",
  unit: "bytes",
  labels: ["stage"],
  buckets: memoryDeltaBuckets,
})

export const requestsTotalDef = defineUnsafe({
  name: "stagetrace_requests_total",
  type: "counter",
  description: "Requests completed, by request name and outcome (ok, error, interrupted)",
  labels: ["request", "status"],
})

export const requestDurationDef = defineUnsafe({
  name: "stagetrace_request_duration_seconds",
  type: "histogram",
  description: "Duration of every request, by request name and outcome",
  unit: "seconds",
  labels: ["request", "status"],
  buckets: stageBuckets,
})

export const requestsInFlightDef = defineUnsafe({
  name: "stagetrace_requests_in_flight",
  type: "gauge",
  description: "Requests currently running",
})

export const budgetViolationsDef = defineUnsafe({
  ...budgetViolationsMetric,
  type: "counter",
  labels: [...budgetViolationsMetric.labels],
})

export const errorsByCategoryDef = defineUnsafe({
  ...errorsMetric,
  type: "counter",
  labels: [...errorsMetric.labels],
})

export const latencyAnomaliesDef = defineUnsafe({
  ...latencyAnomaliesMetric,
  type: "counter",
  labels: [...latencyAnomaliesMetric.labels],
})

export const recorderDroppedSamplesDef = defineUnsafe({
  name: "stagetrace_dropped_samples_total",
  type: "counter",
  description: "Samples and records the recorder dropped instead of recording, by reason",
  labels: ["reason"],
})

export const droppedStageExecutionsDef = defineUnsafe({
  name: "stagetrace_dropped_stage_executions_total",
  type: "counter",
  description: "Stage executions left out of request summaries because their request hit maxStagesPerRequest",
})

export const metricDroppedSamplesDef = defineUnsafe({
  name: "stagetrace_metric_dropped_samples_total",
  type: "counter",
  description:
    "Metric samples dropped instead of recorded (undeclared label, NaN, negative increment…), by reason",
  labels: ["metric", "reason"],
})

export const metricSeriesOverflowDef = defineUnsafe({
  name: "stagetrace_metric_series_overflow_total",
  type: "counter",
  description: "Samples recorded into the overflow series because the metric had maxSeriesPerMetric series",
  labels: ["metric"],
})

export const exportedDef = defineUnsafe({
  name: "stagetrace_exported_total",
  type: "counter",
  description: "Items handed to exporters, by signal (traces, metrics, logs, summaries)",
  labels: ["signal"],
})

export const exportDroppedDef = defineUnsafe({
  name: "stagetrace_export_dropped_total",
  type: "counter",
  description: "Items dropped by the export pipeline (spans included), by signal and reason",
  labels: ["signal", "reason"],
})

export const exportFailuresDef = defineUnsafe({
  name: "stagetrace_export_failures_total",
  type: "counter",
  description: "Export requests that failed after their retries",
})

export const exportQueuedDef = defineUnsafe({
  name: "stagetrace_export_queued",
  type: "gauge",
  description: "Items waiting in the export queues",
})

export const exportQueueCapacityDef = defineUnsafe({
  name: "stagetrace_export_queue_capacity",
  type: "gauge",
  description: "Total capacity of the export queues",
})

export const metricIsolatesDef = defineUnsafe({
  name: "stagetrace_metric_isolates",
  type: "gauge",
  description: "Isolates whose metrics the last scrape merged (aggregateIsolates), by status: " +
    "fresh (answered in time, this one included), stale (last known values served), missing (no values yet)",
  labels: ["status"],
})

export const metricIsolateTimeoutsDef = defineUnsafe({
  name: "stagetrace_metric_isolate_timeouts_total",
  type: "counter",
  description:
    "Times an isolate did not answer a scrape in time (aggregateIsolates); its last known values were served",
})

/** Every toolkit definition, in catalogue order. */
export const toolkitDefinitions = [
  stageDurationDef,
  requestsTotalDef,
  requestDurationDef,
  requestsInFlightDef,
  budgetViolationsDef,
  errorsByCategoryDef,
  latencyAnomaliesDef,
  recorderDroppedSamplesDef,
  droppedStageExecutionsDef,
  metricDroppedSamplesDef,
  metricSeriesOverflowDef,
  exportedDef,
  exportDroppedDef,
  exportFailuresDef,
  exportQueuedDef,
  exportQueueCapacityDef,
  metricIsolatesDef,
  metricIsolateTimeoutsDef,
] as const
