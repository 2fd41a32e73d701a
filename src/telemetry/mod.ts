/**
 * Composition: `Telemetry.layer`, `Telemetry.layerFromEnv`.
 *
 * @module
 */

/** The one layer that provides stagetrace. @since 0.1.0 */
export * as Telemetry from "./Telemetry.ts"
export { TelemetryConfigError } from "../internal/config.ts"
