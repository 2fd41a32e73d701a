/**
 * The performance report: `Report`.
 *
 * @module
 */

/** Reads JSONL performance logs and renders a self-contained HTML report and a text summary. @since 0.1.0 */
export * as Report from "./Report.ts"
