/**
 * The metrics of adopted spans. The seeds' names go to the `Metrics` store of the fiber that opened the span
 * (`llm_*`, `embedding*`, `db_*`, `http_client_request_duration_seconds`); HTTP server requests use the
 * same Effect metrics as `Http.middleware`; OpenTelemetry's GenAI client metrics
 * (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`) are Effect metrics of the span's
 * context, so OTLP exporters send them under their OpenTelemetry names (Prometheus renders them with
 * underscores). One Effect metric object per label set is cached (bounded).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import {
  dbQueriesTotalDef,
  dbQueryDurationDef,
  embeddingGenerationDurationDef,
  embeddingsGeneratedTotalDef,
  httpClientRequestDurationDef,
  llmCostDollarsTotalDef,
  llmRequestDurationDef,
  llmRequestsTotalDef,
  llmTokensUsedTotalDef,
} from "../../metrics/internal/catalogue.ts"
import type { Metrics } from "../../metrics/Metrics.ts"
import type { ModelPrice } from "../Instrument.ts"

/** Nanoseconds to seconds, in one rounding. */
export const secondsBetween = (startNanos: bigint, endNanos: bigint): number =>
  Number(endNanos - startNanos) / 1e9

/** Token counts of one language model call; `undefined` when the provider did not report them. */
export interface TokenUsage {
  input: number | undefined
  output: number | undefined
  cached: number | undefined
  reasoning: number | undefined
}

/** The cost of a call in US dollars (input and output tokens at the model's price). */
export const costOf = (usage: TokenUsage, price: ModelPrice): number =>
  ((usage.input ?? 0) * price.inputPer1k + (usage.output ?? 0) * price.outputPer1k) / 1000

const TOKEN_BOUNDARIES: ReadonlyArray<number> = [
  1,
  4,
  16,
  64,
  256,
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  4194304,
  16777216,
  67108864,
]
const DURATION_BOUNDARIES: ReadonlyArray<number> = [
  0.01,
  0.02,
  0.04,
  0.08,
  0.16,
  0.32,
  0.64,
  1.28,
  2.56,
  5.12,
  10.24,
  20.48,
  40.96,
  81.92,
]

const MAX_CACHED = 1024
const histograms = new Map<string, Metric.Histogram<number>>()

const histogram = (
  name: string,
  description: string,
  boundaries: ReadonlyArray<number>,
  attributes: Record<string, string>,
): Metric.Histogram<number> => {
  let key = name
  for (const k in attributes) key += "\u0000" + attributes[k]
  let metric = histograms.get(key)
  if (metric === undefined) {
    metric = Metric.histogram(name, { description, boundaries, attributes })
    if (histograms.size < MAX_CACHED) histograms.set(key, metric)
  }
  return metric
}

/** One finished language model or embedding call, as the GenAI metrics see it. */
export interface GenAiCall {
  /** `gen_ai.operation.name`: `chat` or `embeddings`. */
  readonly operation: "chat" | "embeddings"
  readonly provider: string
  readonly model: string
  readonly seconds: number
  /** `error.type` when the call failed. */
  readonly errorType: string | undefined
}

/** OpenTelemetry's GenAI client metrics, into the registry of `context`. */
export const recordGenAi = (context: Context.Context<never>, call: GenAiCall, usage: TokenUsage): void => {
  const base: Record<string, string> = {
    "gen_ai.operation.name": call.operation,
    "gen_ai.provider.name": call.provider,
    "gen_ai.request.model": call.model,
  }
  const durationAttributes = call.errorType === undefined
    ? { ...base, unit: "seconds" }
    : { ...base, "error.type": call.errorType, unit: "seconds" }
  if (call.seconds >= 0 && Number.isFinite(call.seconds)) {
    histogram(
      "gen_ai.client.operation.duration",
      "GenAI operation duration",
      DURATION_BOUNDARIES,
      durationAttributes,
    ).updateUnsafe(call.seconds, context)
  }
  if (usage.input !== undefined) {
    histogram(
      "gen_ai.client.token.usage",
      "Number of input and output tokens used",
      TOKEN_BOUNDARIES,
      { ...base, "gen_ai.token.type": "input", unit: "{token}" },
    ).updateUnsafe(usage.input, context)
  }
  if (usage.output !== undefined) {
    histogram(
      "gen_ai.client.token.usage",
      "Number of input and output tokens used",
      TOKEN_BOUNDARIES,
      { ...base, "gen_ai.token.type": "output", unit: "{token}" },
    ).updateUnsafe(usage.output, context)
  }
}

/** `llm_requests_total`, `llm_request_duration_seconds`, `llm_tokens_used_total`, `llm_cost_dollars_total`. */
export const recordLlm = (
  metrics: Metrics,
  provider: string,
  model: string,
  status: string,
  seconds: number,
  usage: TokenUsage,
  cost: number | undefined,
): void => {
  const labels = { provider, model }
  metrics.increment(llmRequestsTotalDef, { provider, model, status })
  metrics.observe(llmRequestDurationDef, labels, seconds)
  if (usage.input !== undefined) {
    metrics.increment(llmTokensUsedTotalDef, { provider, model, type: "prompt" }, usage.input)
  }
  if (usage.output !== undefined) {
    metrics.increment(llmTokensUsedTotalDef, { provider, model, type: "completion" }, usage.output)
  }
  if (usage.cached !== undefined) {
    metrics.increment(llmTokensUsedTotalDef, { provider, model, type: "cached" }, usage.cached)
  }
  if (usage.reasoning !== undefined) {
    metrics.increment(llmTokensUsedTotalDef, { provider, model, type: "reasoning" }, usage.reasoning)
  }
  if (cost !== undefined) metrics.increment(llmCostDollarsTotalDef, labels, cost)
}

/** `embeddings_generated_total`, `embedding_generation_duration_seconds` (and the cost when priced). */
export const recordEmbedding = (
  metrics: Metrics,
  provider: string,
  model: string,
  count: number,
  seconds: number,
  cost: number | undefined,
): void => {
  const labels = { model }
  if (count > 0) metrics.increment(embeddingsGeneratedTotalDef, labels, count)
  metrics.observe(embeddingGenerationDurationDef, labels, seconds)
  if (cost !== undefined) metrics.increment(llmCostDollarsTotalDef, { provider, model }, cost)
}

/** `db_queries_total`, `db_query_duration_seconds`. */
export const recordDb = (metrics: Metrics, operation: string, ok: boolean, seconds: number): void => {
  metrics.increment(dbQueriesTotalDef, { operation, status: ok ? "ok" : "error" })
  metrics.observe(dbQueryDurationDef, { operation }, seconds)
}

/** `http_client_request_duration_seconds`. */
export const recordHttpClient = (
  metrics: Metrics,
  method: string,
  host: string,
  status: string,
  seconds: number,
): void => {
  metrics.observe(httpClientRequestDurationDef, { method, server_address: host, status }, seconds)
}
