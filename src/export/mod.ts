/**
 * Export: `Exporter.otlp`, `Exporter.denoNative`, `Exporter.console`, `Exporter.jsonl`, `Exporter.memory`.
 *
 * Guide: [Export and OTLP](../../docs/export.md).
 *
 * @module
 */

/**
 * Exporters for `Telemetry.layer({ exporters })`: any number at once, each behind its own bounded queue,
 * all flushed when the layer closes.
 *
 * Guide: [Export and OTLP](../../docs/export.md).
 *
 * @example Reading back what was exported
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Exporter, Request, Telemetry } from "@stagetrace/stagetrace"
 *
 * const memory = Exporter.memory()
 * await Effect.runPromise(Effect.void.pipe(Request.track("chat"), Effect.provide(Telemetry.layer({ exporters: [memory] }))))
 * assert.equal(memory.spans()[0]?.name, "chat")
 * ```
 *
 * @since 0.1.0
 */
export * as Exporter from "./Exporter.ts"
