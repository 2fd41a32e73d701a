/**
 * The standard metric catalogue: the seeds' HTTP, database, LLM, RAG, embedding, system, error and circuit
 * breaker metrics, and stagetrace's own metrics (stage durations, requests, budget violations, errors by
 * category, latency anomalies, dropped samples, export pipeline). Record the standard ones with `Metrics.increment`,
 * `Metrics.set` and `Metrics.observe`; the toolkit's own are recorded by `Telemetry.layer` (budget
 * violations and errors by category by the budgets and errors concerns).
 *
 * | constant | metric | type | unit | labels |
 * | --- | --- | --- | --- | --- |
 * | `httpRequestsTotal` | `http_requests_total` | counter | — | method, route, status |
 * | `httpRequestDuration` | `http_request_duration_seconds` | histogram | seconds | method, route |
 * | `httpClientRequestDuration` | `http_client_request_duration_seconds` | histogram | seconds | method, server_address, status |
 * | `dbQueriesTotal` | `db_queries_total` | counter | — | operation, status |
 * | `dbQueryDuration` | `db_query_duration_seconds` | histogram | seconds | operation |
 * | `dbConnectionsActive` | `db_connections_active` | gauge | — | database |
 * | `llmRequestsTotal` | `llm_requests_total` | counter | — | provider, model, status |
 * | `llmTokensUsedTotal` | `llm_tokens_used_total` | counter | — | provider, model, type |
 * | `llmRequestDuration` | `llm_request_duration_seconds` | histogram | seconds | provider, model |
 * | `llmCostDollarsTotal` | `llm_cost_dollars_total` | counter | dollars | provider, model |
 * | `ragQueriesTotal` | `rag_queries_total` | counter | — | pipeline |
 * | `ragRetrievalLatency` | `rag_retrieval_latency_seconds` | histogram | seconds | pipeline |
 * | `ragDocumentsRetrieved` | `rag_documents_retrieved` | histogram | — | pipeline |
 * | `ragCacheHitsTotal` | `rag_cache_hits_total` | counter | — | cache |
 * | `ragCacheMissesTotal` | `rag_cache_misses_total` | counter | — | cache |
 * | `embeddingsGeneratedTotal` | `embeddings_generated_total` | counter | — | model |
 * | `embeddingGenerationDuration` | `embedding_generation_duration_seconds` | histogram | seconds | model |
 * | `systemCpuUsagePercent` | `system_cpu_usage_percent` | gauge | percent | — |
 * | `systemMemoryUsageBytes` | `system_memory_usage_bytes` | gauge | bytes | type |
 * | `errorsTotal` | `errors_total` | counter | — | component, error_type |
 * | `circuitBreakerState` | `circuit_breaker_state` | gauge | — | name |
 * | `circuitBreakerTripsTotal` | `circuit_breaker_trips_total` | counter | — | name |
 * | `stageDuration` | `stagetrace_stage_duration_seconds` | histogram | seconds | stage, status |
 * | `stageMemoryDelta` | `stagetrace_stage_memory_delta_bytes` | histogram | bytes | stage |
 * | `requestsTotal` | `stagetrace_requests_total` | counter | — | request, status |
 * | `requestDuration` | `stagetrace_request_duration_seconds` | histogram | seconds | request, status |
 * | `requestsInFlight` | `stagetrace_requests_in_flight` | gauge | — | — |
 * | `budgetViolations` | `stagetrace_budget_violations_total` | counter | — | stage |
 * | `errorsByCategory` | `stagetrace_errors_total` | counter | — | category, stage |
 * | `latencyAnomalies` | `stagetrace_latency_anomalies_total` | counter | — | stage |
 * | `recorderDroppedSamples` | `stagetrace_dropped_samples_total` | counter | — | reason |
 * | `droppedStageExecutions` | `stagetrace_dropped_stage_executions_total` | counter | — | — |
 * | `metricDroppedSamples` | `stagetrace_metric_dropped_samples_total` | counter | — | metric, reason |
 * | `metricSeriesOverflow` | `stagetrace_metric_series_overflow_total` | counter | — | metric |
 * | `exported` | `stagetrace_exported_total` | counter | — | signal |
 * | `exportDropped` | `stagetrace_export_dropped_total` | counter | — | signal, reason |
 * | `exportFailures` | `stagetrace_export_failures_total` | counter | — | — |
 * | `exportQueued` | `stagetrace_export_queued` | gauge | — | — |
 * | `exportQueueCapacity` | `stagetrace_export_queue_capacity` | gauge | — | — |
 *
 * Guide: [Metrics and Prometheus](../../docs/metrics-and-prometheus.md#catalogue-metriccatalogue).
 *
 * @module
 */
import type { Counter, Gauge, Histogram } from "./Metrics.ts"
import * as catalogue from "./internal/catalogue.ts"
import * as toolkit from "./internal/toolkit.ts"

/**
 * `http_requests_total` (counter): HTTP requests handled, by method, route and status code.
 *
 * @category standard
 * @since 0.1.0
 */
export const httpRequestsTotal: Counter<"method" | "route" | "status"> = catalogue.httpRequestsTotalDef

/**
 * `http_request_duration_seconds` (histogram): HTTP request duration, by method and route. Unit: seconds.
 *
 * @category standard
 * @since 0.1.0
 */
export const httpRequestDuration: Histogram<"method" | "route"> = catalogue.httpRequestDurationDef

/**
 * `http_client_request_duration_seconds` (histogram): outgoing HTTP request duration (OpenTelemetry's
 * `http.client.request.duration`), by method, server address and status code (`error` when no response
 * came). Recorded for `HttpClient` calls adopted by `Telemetry.layer` (`instrument.httpClient`). Unit: seconds.
 *
 * @category standard
 * @since 0.2.0
 */
export const httpClientRequestDuration: Histogram<"method" | "server_address" | "status"> =
  catalogue.httpClientRequestDurationDef

/**
 * `db_queries_total` (counter): Database queries, by operation and outcome.
 *
 * @category standard
 * @since 0.1.0
 */
export const dbQueriesTotal: Counter<"operation" | "status"> = catalogue.dbQueriesTotalDef

/**
 * `db_query_duration_seconds` (histogram): Database query duration, by operation. Unit: seconds.
 *
 * @category standard
 * @since 0.1.0
 */
export const dbQueryDuration: Histogram<"operation"> = catalogue.dbQueryDurationDef

/**
 * `db_connections_active` (gauge): Open database connections, by database.
 *
 * @category standard
 * @since 0.1.0
 */
export const dbConnectionsActive: Gauge<"database"> = catalogue.dbConnectionsActiveDef

/**
 * `llm_requests_total` (counter): LLM API requests, by provider, model and outcome.
 *
 * @category standard
 * @since 0.1.0
 */
export const llmRequestsTotal: Counter<"provider" | "model" | "status"> = catalogue.llmRequestsTotalDef

/**
 * `llm_tokens_used_total` (counter): LLM tokens consumed, by provider, model and type (prompt, completion).
 *
 * @category standard
 * @since 0.1.0
 */
export const llmTokensUsedTotal: Counter<"provider" | "model" | "type"> = catalogue.llmTokensUsedTotalDef

/**
 * `llm_request_duration_seconds` (histogram): LLM request duration, by provider and model. Unit: seconds.
 *
 * @category standard
 * @since 0.1.0
 */
export const llmRequestDuration: Histogram<"provider" | "model"> = catalogue.llmRequestDurationDef

/**
 * `llm_cost_dollars_total` (counter): Cumulative LLM API cost in US dollars, by provider and model. Unit: dollars.
 *
 * @category standard
 * @since 0.1.0
 */
export const llmCostDollarsTotal: Counter<"provider" | "model"> = catalogue.llmCostDollarsTotalDef

/**
 * `rag_queries_total` (counter): RAG queries, by pipeline.
 *
 * @category standard
 * @since 0.1.0
 */
export const ragQueriesTotal: Counter<"pipeline"> = catalogue.ragQueriesTotalDef

/**
 * `rag_retrieval_latency_seconds` (histogram): RAG retrieval latency, by pipeline. Unit: seconds.
 *
 * @category standard
 * @since 0.1.0
 */
export const ragRetrievalLatency: Histogram<"pipeline"> = catalogue.ragRetrievalLatencyDef

/**
 * `rag_documents_retrieved` (histogram): Documents retrieved per RAG query, by pipeline.
 *
 * @category standard
 * @since 0.1.0
 */
export const ragDocumentsRetrieved: Histogram<"pipeline"> = catalogue.ragDocumentsRetrievedDef

/**
 * `rag_cache_hits_total` (counter): Cache hits, by cache name.
 *
 * @category standard
 * @since 0.1.0
 */
export const ragCacheHitsTotal: Counter<"cache"> = catalogue.ragCacheHitsTotalDef

/**
 * `rag_cache_misses_total` (counter): Cache misses, by cache name.
 *
 * @category standard
 * @since 0.1.0
 */
export const ragCacheMissesTotal: Counter<"cache"> = catalogue.ragCacheMissesTotalDef

/**
 * `embeddings_generated_total` (counter): Embeddings generated, by model.
 *
 * @category standard
 * @since 0.1.0
 */
export const embeddingsGeneratedTotal: Counter<"model"> = catalogue.embeddingsGeneratedTotalDef

/**
 * `embedding_generation_duration_seconds` (histogram): Embedding generation duration, by model. Unit: seconds.
 *
 * @category standard
 * @since 0.1.0
 */
export const embeddingGenerationDuration: Histogram<"model"> = catalogue.embeddingGenerationDurationDef

/**
 * `system_cpu_usage_percent` (gauge): CPU time used by this process over the last refresh interval (at most 10 s), in percent of one core. Unit: percent.
 *
 * Sampled at every scrape when `systemMetrics` is on (the default); a series you set yourself
 * (`Metrics.set`) wins: the sampler stops writing it.
 *
 * @category standard
 * @since 0.1.0
 */
export const systemCpuUsagePercent: Gauge = catalogue.systemCpuUsagePercentDef

/**
 * `system_memory_usage_bytes` (gauge): Memory used by this process, by type (rss, heap_total, heap_used, external). Unit: bytes.
 *
 * Sampled at every scrape when `systemMetrics` is on (the default); a series you set yourself
 * (`Metrics.set`) wins: the sampler stops writing it.
 *
 * @category standard
 * @since 0.1.0
 */
export const systemMemoryUsageBytes: Gauge<"type"> = catalogue.systemMemoryUsageBytesDef

/**
 * `errors_total` (counter): Errors, by component and error type.
 *
 * @category standard
 * @since 0.1.0
 */
export const errorsTotal: Counter<"component" | "error_type"> = catalogue.errorsTotalDef

/**
 * `circuit_breaker_state` (gauge): Circuit breaker state, by breaker name (0 closed, 1 open, 2 half-open).
 *
 * @category standard
 * @since 0.1.0
 */
export const circuitBreakerState: Gauge<"name"> = catalogue.circuitBreakerStateDef

/**
 * `circuit_breaker_trips_total` (counter): Times a circuit breaker opened, by breaker name.
 *
 * @category standard
 * @since 0.1.0
 */
export const circuitBreakerTripsTotal: Counter<"name"> = catalogue.circuitBreakerTripsTotalDef

/**
 * `stagetrace_stage_duration_seconds` (histogram): Duration of every stage, by stage id and outcome (ok, error, interrupted). Unit: seconds.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const stageDuration: Histogram<"stage" | "status"> = toolkit.stageDurationDef

/**
 * `stagetrace_stage_memory_delta_bytes` (histogram): Heap growth while a stage ran, by stage id, for stages measured with memory: true or stageMemory (negative when garbage collection freed more). Unit: bytes.
 *
 * @category toolkit
 * @since 0.2.0
 */
export const stageMemoryDelta: Histogram<"stage"> = toolkit.stageMemoryDeltaDef

/**
 * `stagetrace_requests_total` (counter): Requests completed, by request name and outcome (ok, error, interrupted).
 *
 * @category toolkit
 * @since 0.1.0
 */
export const requestsTotal: Counter<"request" | "status"> = toolkit.requestsTotalDef

/**
 * `stagetrace_request_duration_seconds` (histogram): Duration of every request, by request name and outcome. Unit: seconds.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const requestDuration: Histogram<"request" | "status"> = toolkit.requestDurationDef

/**
 * `stagetrace_requests_in_flight` (gauge): Requests currently running.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const requestsInFlight: Gauge = toolkit.requestsInFlightDef

/**
 * `stagetrace_budget_violations_total` (counter): Stages and requests that took longer than their latency budget.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const budgetViolations: Counter<"stage"> = toolkit.budgetViolationsDef

/**
 * `stagetrace_errors_total` (counter): Failed stages and requests, by error category and the stage where the error happened.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const errorsByCategory: Counter<"category" | "stage"> = toolkit.errorsByCategoryDef

/**
 * `stagetrace_latency_anomalies_total` (counter): Latency anomalies: windows in which a stage's p95 rose above its own recent baseline.
 *
 * @category toolkit
 * @since 0.2.0
 */
export const latencyAnomalies: Counter<"stage"> = toolkit.latencyAnomaliesDef

/**
 * `stagetrace_dropped_samples_total` (counter): Samples and records the recorder dropped instead of recording, by reason.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const recorderDroppedSamples: Counter<"reason"> = toolkit.recorderDroppedSamplesDef

/**
 * `stagetrace_dropped_stage_executions_total` (counter): Stage executions left out of request summaries because their request hit maxStagesPerRequest.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const droppedStageExecutions: Counter = toolkit.droppedStageExecutionsDef

/**
 * `stagetrace_metric_dropped_samples_total` (counter): Metric samples dropped instead of recorded (undeclared label, NaN, negative increment…), by reason.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const metricDroppedSamples: Counter<"metric" | "reason"> = toolkit.metricDroppedSamplesDef

/**
 * `stagetrace_metric_series_overflow_total` (counter): Samples recorded into the overflow series because the metric had maxSeriesPerMetric series.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const metricSeriesOverflow: Counter<"metric"> = toolkit.metricSeriesOverflowDef

/**
 * `stagetrace_exported_total` (counter): Items handed to exporters, by signal (traces, metrics, logs, summaries).
 *
 * @category toolkit
 * @since 0.1.0
 */
export const exported: Counter<"signal"> = toolkit.exportedDef

/**
 * `stagetrace_export_dropped_total` (counter): Items dropped by the export pipeline (spans included), by signal and reason.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const exportDropped: Counter<"signal" | "reason"> = toolkit.exportDroppedDef

/**
 * `stagetrace_export_failures_total` (counter): Export requests that failed after their retries.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const exportFailures: Counter = toolkit.exportFailuresDef

/**
 * `stagetrace_export_queued` (gauge): Items waiting in the export queues.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const exportQueued: Gauge = toolkit.exportQueuedDef

/**
 * `stagetrace_export_queue_capacity` (gauge): Total capacity of the export queues.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const exportQueueCapacity: Gauge = toolkit.exportQueueCapacityDef

/**
 * `stagetrace_metric_isolates{status}` (gauge): with `aggregateIsolates`, the isolates whose metrics the
 * last scrape merged — `fresh` (answered in time, the answering isolate included), `stale` (did not
 * answer; its last known values were served) and `missing` (no values known yet).
 *
 * @category toolkit
 * @since 0.1.0
 */
export const metricIsolates: Gauge<"status"> = toolkit.metricIsolatesDef

/**
 * `stagetrace_metric_isolate_timeouts_total` (counter): with `aggregateIsolates`, the times an isolate
 * did not answer a scrape within the timeout.
 *
 * @category toolkit
 * @since 0.1.0
 */
export const metricIsolateTimeouts: Counter = toolkit.metricIsolateTimeoutsDef
