/**
 * The performance report: `Report`.
 *
 * Guide: [The performance report](../../docs/logs-redaction-report.md#the-performance-report).
 *
 * @module
 */

/**
 * Reads JSONL performance logs (`Exporter.jsonl`) and renders a self-contained HTML report and a text
 * summary: per-stage percentiles, latency over time, the slowest requests' waterfalls, bottlenecks, budget
 * violations, errors, and the values over-represented among slow requests.
 *
 * Guide: [The performance report](../../docs/logs-redaction-report.md#the-performance-report).
 *
 * @example No lines, an empty analysis
 * ```ts
 * import assert from "node:assert/strict"
 * import { Report } from "@stagetrace/stagetrace"
 *
 * assert.deepEqual(Report.analyze([]).stages, [])
 * ```
 *
 * @since 0.1.0
 */
export * as Report from "./Report.ts"
