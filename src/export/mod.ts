/**
 * Export: `Exporter.otlp`, `Exporter.denoNative`, `Exporter.console`, `Exporter.jsonl`, `Exporter.memory`.
 *
 * @module
 */

/** Exporters for `Telemetry.layer({ exporters })`. @since 0.1.0 */
export * as Exporter from "./Exporter.ts"
