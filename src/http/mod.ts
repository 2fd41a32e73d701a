/**
 * Distributed tracing over HTTP: `Propagation` (W3C Trace Context Level 2 and Baggage) and `Http`
 * (`Http.middleware`, `Http.serve`, `Http.fetch`).
 *
 * @module
 */

/** W3C Trace Context and Baggage: `Propagation.extract`, `Propagation.inject`. @since 0.1.0 */
export * as Propagation from "./Propagation.ts"
/** Traced HTTP servers and clients: `Http.middleware`, `Http.fetch`. @since 0.1.0 */
export * as Http from "./Http.ts"
