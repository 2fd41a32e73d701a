/**
 * Composition: `Telemetry.layer`, `Telemetry.layerFromEnv`, `Telemetry.makeRuntime`, `Telemetry.runMain`.
 *
 * Guides: [Configuration reference](../../docs/configuration.md), [The Promise API](../../docs/promise-api.md).
 *
 * @module
 */

/**
 * The one layer that provides stagetrace (`Telemetry.layer`, from the environment `Telemetry.layerFromEnv`),
 * the Promise API (`Telemetry.makeRuntime`) and `Telemetry.runMain`, which flushes telemetry on SIGINT and
 * SIGTERM.
 *
 * Guide: [Configuration reference](../../docs/configuration.md): every option and environment variable.
 *
 * @example Providing the layer
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const [latest] = await Effect.runPromise(
 *   Effect.void.pipe(Request.track("chat"), Effect.andThen(Summaries.recent(1)), Effect.provide(Telemetry.layer({ serviceName: "chat" }))),
 * )
 * assert.equal(latest?.name, "chat")
 * ```
 *
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.ts"
export { TelemetryConfigError } from "../internal/config.ts"
