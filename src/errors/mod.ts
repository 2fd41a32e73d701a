/**
 * Error classification and alerts: `ErrorCategory`, `Errors`, `Alerts`.
 *
 * @module
 */

/** Alerts on error frequency per category and stage: `Alerts.stream`, `Alerts.subscribe`. @since 0.1.0 */
export * as Alerts from "./Alerts.ts"
/** The categories failures are sorted into. @since 0.1.0 */
export * as ErrorCategory from "./ErrorCategory.ts"
/** Error classification from an Effect `Cause`: `Errors.classify`, `Errors.rules`, `Errors.summary`. @since 0.1.0 */
export * as Errors from "./Errors.ts"
