/**
 * Structured logs and redaction: `Log`, `Redactor`.
 *
 * Guide: [Logs, redaction and the report](../../docs/logs-redaction-report.md).
 *
 * @module
 */

/**
 * Structured JSON or pretty logs carrying the service, trace, span, request and stage ids; with
 * `Telemetry.layer({ log })`, request and stage lifecycle records too.
 *
 * Guide: [Structured logs](../../docs/logs-redaction-report.md#structured-logs).
 *
 * @example Collecting records
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, Logger } from "effect"
 * import { Log, Request } from "@stagetrace/stagetrace"
 *
 * const records: Array<Log.LogRecord> = []
 * await Effect.runPromise(
 *   Effect.logInfo("hello").pipe(
 *     Request.track("chat", { requestId: "req-1" }),
 *     Effect.provide(Logger.layer([Logger.map(Log.structured, (record) => void records.push(record))])),
 *   ),
 * )
 * assert.equal(records[0]?.request_id, "req-1")
 * ```
 *
 * @since 0.1.0
 */
export * as Log from "./Log.ts"
/**
 * Masks personal data and secrets in every log record, span attribute and event, summary, JSONL line and
 * metric label value before anything leaves the process.
 *
 * Guide: [Redaction](../../docs/logs-redaction-report.md#redaction).
 *
 * @example The default redactor
 * ```ts
 * import assert from "node:assert/strict"
 * import { Redactor } from "@stagetrace/stagetrace"
 *
 * assert.equal(Redactor.defaultRedactor.redactString("mail alice@example.com"), "mail [EMAIL]")
 * ```
 *
 * @since 0.1.0
 */
export * as Redactor from "./Redactor.ts"
