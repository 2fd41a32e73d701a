/**
 * stagetrace: request and stage telemetry for Effect programs on Deno.
 *
 * Wrap a unit of work in `Request.track` and its steps in `Stage.track`; every stage is a real Effect span
 * and feeds per-stage statistics, request summaries with bottlenecks, and whatever `Telemetry.layer`
 * installs.
 *
 * Guides, one per concern, each starting with a runnable example:
 * [requests and stages](docs/requests-and-stages.md),
 * [statistics and summaries](docs/statistics-and-summaries.md),
 * [sampling](docs/sampling.md),
 * [budgets, errors, alerts and health](docs/budgets-errors-health.md),
 * [metrics and Prometheus](docs/metrics-and-prometheus.md),
 * [export and OTLP](docs/export.md),
 * [HTTP and propagation](docs/http.md),
 * [logs, redaction and the report](docs/logs-redaction-report.md),
 * [the Promise API](docs/promise-api.md),
 * [beyond one process](docs/beyond-one-process.md),
 * [the configuration reference](docs/configuration.md) and [performance](docs/performance.md).
 *
 * @example A request with two stages
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Request, Stage, Summaries, Telemetry } from "@stagetrace/stagetrace"
 *
 * const handle = Effect.gen(function* () {
 *   yield* Effect.sleep("5 millis").pipe(Stage.track("auth_check"))
 *   yield* Effect.sleep("20 millis").pipe(Stage.track("llm_request"))
 * }).pipe(Request.track("chat"))
 *
 * const [summary] = await Effect.runPromise(
 *   Effect.andThen(handle, Summaries.recent(1)).pipe(Effect.provide(Telemetry.layer())),
 * )
 * assert.deepEqual(summary?.stages.map((s) => s.stageId), ["auth_check", "llm_request"])
 * // summary.bottlenecks names llm_request: its own time is at least 30% of the request.
 * console.log(Summaries.waterfall(summary!))
 * ```
 *
 * @module
 */
export * from "./src/budget/mod.ts"
export * from "./src/errors/mod.ts"
export * from "./src/health/mod.ts"
export * from "./src/log/mod.ts"
export * from "./src/report/mod.ts"
export * from "./src/stage/mod.ts"
export * from "./src/metrics/mod.ts"
export * from "./src/sampling/mod.ts"
export * from "./src/telemetry/mod.ts"
export * from "./src/http/mod.ts"
export * from "./src/export/mod.ts"
export * from "./src/instrument/mod.ts"
export * from "./src/dashboard/mod.ts"
