/**
 * Structured logs and redaction: `Log`, `Redactor`.
 *
 * @module
 */

/** Structured JSON / pretty logs with service, trace, request and stage ids. @since 0.1.0 */
export * as Log from "./Log.ts"
/** Masks personal data and secrets before anything leaves the process. @since 0.1.0 */
export * as Redactor from "./Redactor.ts"
