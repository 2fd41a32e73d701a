/**
 * The standard catalogue: the seeds' metric names, with their labels, units and buckets.
 *
 * @internal
 */
import { defineUnsafe } from "./definition.ts"

export const httpRequestsTotalDef = defineUnsafe({
  name: "http_requests_total",
  type: "counter",
  description: "HTTP requests handled, by method, route and status code",
  labels: ["method", "route", "status"],
})

export const httpRequestDurationDef = defineUnsafe({
  name: "http_request_duration_seconds",
  type: "histogram",
  description: "HTTP request duration, by method and route",
  unit: "seconds",
  labels: ["method", "route"],
})

export const httpClientRequestDurationDef = defineUnsafe({
  name: "http_client_request_duration_seconds",
  type: "histogram",
  description:
    "Outgoing HTTP request duration (OpenTelemetry http.client.request.duration), by method, server address and status code",
  unit: "seconds",
  labels: ["method", "server_address", "status"],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
})

export const dbQueriesTotalDef = defineUnsafe({
  name: "db_queries_total",
  type: "counter",
  description: "Database queries, by operation and outcome",
  labels: ["operation", "status"],
})

export const dbQueryDurationDef = defineUnsafe({
  name: "db_query_duration_seconds",
  type: "histogram",
  description: "Database query duration, by operation",
  unit: "seconds",
  labels: ["operation"],
})

export const dbConnectionsActiveDef = defineUnsafe({
  name: "db_connections_active",
  type: "gauge",
  description: "Open database connections, by database",
  labels: ["database"],
})

export const llmRequestsTotalDef = defineUnsafe({
  name: "llm_requests_total",
  type: "counter",
  description: "LLM API requests, by provider, model and outcome",
  labels: ["provider", "model", "status"],
})

export const llmTokensUsedTotalDef = defineUnsafe({
  name: "llm_tokens_used_total",
  type: "counter",
  description: "LLM tokens consumed, by provider, model and type (prompt, completion)",
  labels: ["provider", "model", "type"],
})

export const llmRequestDurationDef = defineUnsafe({
  name: "llm_request_duration_seconds",
  type: "histogram",
  description: "LLM request duration, by provider and model",
  unit: "seconds",
  labels: ["provider", "model"],
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
})

export const llmCostDollarsTotalDef = defineUnsafe({
  name: "llm_cost_dollars_total",
  type: "counter",
  description: "Cumulative LLM API cost in US dollars, by provider and model",
  unit: "dollars",
  labels: ["provider", "model"],
})

export const ragQueriesTotalDef = defineUnsafe({
  name: "rag_queries_total",
  type: "counter",
  description: "RAG queries, by pipeline",
  labels: ["pipeline"],
})

export const ragRetrievalLatencyDef = defineUnsafe({
  name: "rag_retrieval_latency_seconds",
  type: "histogram",
  description: "RAG retrieval latency, by pipeline",
  unit: "seconds",
  labels: ["pipeline"],
})

export const ragDocumentsRetrievedDef = defineUnsafe({
  name: "rag_documents_retrieved",
  type: "histogram",
  description: "Documents retrieved per RAG query, by pipeline",
  labels: ["pipeline"],
  buckets: [0, 1, 2, 5, 10, 20, 50, 100],
})

export const ragCacheHitsTotalDef = defineUnsafe({
  name: "rag_cache_hits_total",
  type: "counter",
  description: "Cache hits, by cache name",
  labels: ["cache"],
})

export const ragCacheMissesTotalDef = defineUnsafe({
  name: "rag_cache_misses_total",
  type: "counter",
  description: "Cache misses, by cache name",
  labels: ["cache"],
})

export const embeddingsGeneratedTotalDef = defineUnsafe({
  name: "embeddings_generated_total",
  type: "counter",
  description: "Embeddings generated, by model",
  labels: ["model"],
})

export const embeddingGenerationDurationDef = defineUnsafe({
  name: "embedding_generation_duration_seconds",
  type: "histogram",
  description: "Embedding generation duration, by model",
  unit: "seconds",
  labels: ["model"],
})

export const systemCpuUsagePercentDef = defineUnsafe({
  name: "system_cpu_usage_percent",
  type: "gauge",
  description:
    "CPU time used by this process over the last refresh interval (at most 10 s), in percent of one core",
  unit: "percent",
  // Every isolate of a process reads the same process-wide figure.
  aggregation: "max",
})

export const systemMemoryUsageBytesDef = defineUnsafe({
  name: "system_memory_usage_bytes",
  type: "gauge",
  description: "Memory used by this process, by type (rss, heap_total, heap_used, external)",
  unit: "bytes",
  labels: ["type"],
})

export const errorsTotalDef = defineUnsafe({
  name: "errors_total",
  type: "counter",
  description: "Errors, by component and error type",
  labels: ["component", "error_type"],
})

export const circuitBreakerStateDef = defineUnsafe({
  name: "circuit_breaker_state",
  type: "gauge",
  description: "Circuit breaker state, by breaker name (0 closed, 1 open, 2 half-open)",
  labels: ["name"],
  // Isolates each have their breaker: show the one furthest from closed.
  aggregation: "max",
})

export const circuitBreakerTripsTotalDef = defineUnsafe({
  name: "circuit_breaker_trips_total",
  type: "counter",
  description: "Times a circuit breaker opened, by breaker name",
  labels: ["name"],
})
