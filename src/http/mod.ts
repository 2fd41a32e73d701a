/**
 * Distributed tracing over HTTP: `Propagation` (W3C Trace Context Level 2 and Baggage) and `Http`
 * (`Http.middleware`, `Http.serve`, `Http.fetch`).
 *
 * Guide: [HTTP and propagation](../../docs/http.md).
 *
 * @module
 */

/**
 * W3C Trace Context (Level 2) and Baggage for any transport: `Propagation.extract`, `Propagation.inject`,
 * `Propagation.withBaggage`. Malformed headers are ignored and counted, never thrown.
 *
 * Guide: [Propagation](../../docs/http.md#propagation-w3c-trace-context-level-2-w3c-baggage).
 *
 * @example Parsing incoming headers
 * ```ts
 * import assert from "node:assert/strict"
 * import { Propagation } from "@stagetrace/stagetrace"
 *
 * const remote = Propagation.parse({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" })
 * assert.equal(remote.parent?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
 * assert.equal(remote.parent?.sampled, true)
 * ```
 *
 * @since 0.1.0
 */
export * as Propagation from "./Propagation.ts"
/**
 * Traced HTTP servers and clients: every incoming request a `Request.track` continuing the caller's trace
 * (`Http.middleware`, `Http.serve`, `Http.toHandler`), every outgoing call a stage carrying it on
 * (`Http.fetch`).
 *
 * Guide: [HTTP and propagation](../../docs/http.md).
 *
 * @example A traced handler
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect, ManagedRuntime } from "effect"
 * import { Http, Telemetry } from "@stagetrace/stagetrace"
 *
 * const runtime = ManagedRuntime.make(Telemetry.layer({ serviceName: "api" }))
 * const handler = Http.middleware(() => Effect.succeed(new Response("ok")), { runtime, route: () => "/ping" })
 * const response = await handler(new Request("http://localhost/ping"))
 * assert.equal(await response.text(), "ok")
 * await runtime.dispose()
 * ```
 *
 * @since 0.1.0
 */
export * as Http from "./Http.ts"
