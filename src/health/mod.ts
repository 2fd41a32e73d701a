/**
 * Health checks: `Health`.
 *
 * @module
 */

/** Health checks and an HTTP health handler: `Health.check`, `Health.handler`. @since 0.1.0 */
export * as Health from "./Health.ts"
