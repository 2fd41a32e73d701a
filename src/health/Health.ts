/**
 * Health checks, as the seeds' `comprehensive_health_check`: memory, latency budgets, error counts and
 * the exporter, rolled into one status — `healthy`, `degraded` (some check is at `warning`) or
 * `critical` (some check is `critical`) — with the metrics behind them.
 *
 * | check | warning | critical |
 * | --- | --- | --- |
 * | `memory` | system memory in use > 80% (or process RSS > 80% of `rssLimit`) | > 90% |
 * | `budgets` | any budget violation in the window (default the last hour) | — |
 * | `errorRate` | > 20 errors in the window (interruptions not counted) | > 50 |
 * | `exporter` | the last export failed, or the export queue is ≥ 90% full | — |
 *
 * System memory and load average come from `Deno.systemMemoryInfo()` and `Deno.loadavg()`, which need
 * `--allow-sys`: without it they are reported as unavailable (the report's `notes` say so) and the memory
 * check uses process RSS against `rssLimit` when one is configured, else is `skipped`. The `sys`
 * permission is queried, never prompted for. A check whose concern is not installed is `skipped`; a
 * freshly started, idle service is `healthy`.
 *
 * `Health.handler` answers HTTP health probes with the report as JSON: 200 when healthy or degraded, 503
 * when critical.
 *
 * Guide: [Budgets, errors, alerts and health](../../docs/budgets-errors-health.md#health).
 *
 * @module
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { CurrentRecorder } from "../internal/recorder.ts"
import { computeReport } from "./internal/health.ts"
import type { HealthReport } from "./internal/healthModel.ts"
import { CurrentSystemSource } from "./internal/system.ts"

// ---------------------------------------------------------------------------------------------------------
// Models: CheckStatus, CheckResult, HealthStatus, SystemMetrics, HealthReport, HealthThresholds,
// HealthOptions (declared in ./internal/healthModel.ts, which the health machinery reads)
// ---------------------------------------------------------------------------------------------------------

export * from "./internal/healthModel.ts"

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

/**
 * Runs every check now and returns the report. Never fails: what cannot be measured is reported as
 * such.
 *
 * @example A fresh service is healthy
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Health, Telemetry } from "@stagetrace/stagetrace"
 *
 * const report = await Effect.runPromise(
 *   Health.check.pipe(Effect.provide(Telemetry.layer({ health: { memoryCriticalPercent: 100, memoryWarningPercent: 100 } }))),
 * )
 * assert.equal(report.status, "healthy")
 * assert.equal(report.checks.exporter.status, "skipped")
 * ```
 *
 * @category health
 * @since 0.1.0
 */
export const check: Effect.Effect<HealthReport> = Effect.withFiber((fiber) =>
  Effect.succeed(
    computeReport(
      fiber.getRef(CurrentRecorder),
      fiber.getRef(Clock.Clock).currentTimeMillisUnsafe(),
      fiber.getRef(CurrentSystemSource),
    ),
  )
)

const jsonHeaders = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" }

/**
 * A web-standard request handler (for `Deno.serve` or any router) answering `GET` and `HEAD` with the
 * health report as JSON: 200 when healthy or degraded, 503 when critical (405 for other methods). The
 * handler reads the telemetry layer of the context it was created in and answers synchronously.
 *
 * @example Serving health probes
 * ```ts
 * import assert from "node:assert/strict"
 * import { Effect } from "effect"
 * import { Health, Telemetry } from "@stagetrace/stagetrace"
 *
 * const handler = await Effect.runPromise(Health.handler.pipe(Effect.provide(Telemetry.layer({ health: { rssLimit: 1 } }))))
 * // Deno.serve({ port: 8080 }, handler)
 * const response = await handler(new Request("http://localhost/health"))
 * assert.equal(response.status, 503) // process RSS is far above a 1-byte limit
 * assert.equal((await response.json()).checks.memory.status, "critical")
 * ```
 *
 * @category health
 * @since 0.1.0
 */
export const handler: Effect.Effect<(request: Request) => Promise<Response>> = Effect.withFiber((fiber) => {
  const recorder = fiber.getRef(CurrentRecorder)
  const clock = fiber.getRef(Clock.Clock)
  const source = fiber.getRef(CurrentSystemSource)
  return Effect.succeed((request: Request): Promise<Response> => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return Promise.resolve(
        new Response(JSON.stringify({ error: "Method not allowed" }), {
          status: 405,
          headers: { ...jsonHeaders, allow: "GET, HEAD" },
        }),
      )
    }
    let status: number
    let body: string
    try {
      const report = computeReport(recorder, clock.currentTimeMillisUnsafe(), source)
      status = report.status === "critical" ? 503 : 200
      body = JSON.stringify(report)
    } catch (error) {
      status = 503
      body = JSON.stringify({ status: "critical", error: `Health check failed: ${String(error)}` })
    }
    return Promise.resolve(
      new Response(request.method === "HEAD" ? null : body, { status, headers: jsonHeaders }),
    )
  })
})
