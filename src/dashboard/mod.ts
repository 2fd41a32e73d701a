/**
 * The live dashboard: `Dashboard` (the handler, the server address, the options of the `dashboard` option
 * of `Telemetry.layer`).
 *
 * @module
 */

/** The live dashboard served by the process. @since 0.2.0 */
export * as Dashboard from "./Dashboard.ts"
