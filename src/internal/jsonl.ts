/**
 * The JSONL performance-log schema (`stagetrace.summary.v1`): one JSON object per line, written by
 * `Exporter.jsonl` and read by `deno task report`.
 *
 * ```jsonc
 * {
 *   "schema": "stagetrace.summary.v1",
 *   "timestamp": "2026-11-24T10:30:00.000Z",   // request start, ISO 8601
 *   "service": { "name": "chat", "version": "1.2.0", "environment": "prod" },
 *   // …every field of RequestSummary: requestId, name, traceId, spanId, startTime, durationMs, success,
 *   // status, error?, stageCount, stages (nested StageExecution), bottlenecks, attributes, truncated,
 *   // overBudget, budgetMs?, sampled, keptBecause
 * }
 * ```
 *
 * @internal
 */
import type { RequestSummary } from "./requestModel.ts"
import type { ServiceDescription } from "./recorder.ts"

/** The schema identifier on every line. */
export const schemaId = "stagetrace.summary.v1"

/** One line of the JSONL performance log. */
export interface SummaryLine extends RequestSummary {
  readonly schema: typeof schemaId
  readonly timestamp: string
  readonly service: {
    readonly name: string
    readonly version?: string | undefined
    readonly environment?: string | undefined
  }
}

/** Builds the line object for a summary (not yet redacted or serialized). */
export const toSummaryLine = (summary: RequestSummary, service: ServiceDescription): SummaryLine => ({
  schema: schemaId,
  timestamp: new Date(summary.startTime).toISOString(),
  service: {
    name: service.serviceName,
    ...(service.serviceVersion !== undefined ? { version: service.serviceVersion } : {}),
    ...(service.environment !== undefined ? { environment: service.environment } : {}),
  },
  ...summary,
})

/** Whether a parsed JSON value looks like a summary line (used by readers to skip foreign lines). */
export const isSummaryLine = (value: unknown): value is SummaryLine =>
  typeof value === "object" && value !== null && (value as { schema?: unknown }).schema === schemaId &&
  typeof (value as { durationMs?: unknown }).durationMs === "number" &&
  Array.isArray((value as { stages?: unknown }).stages)
