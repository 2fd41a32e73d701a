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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { BudgetSummary } from "../budget/Budgets.ts"
import type { ErrorSummary } from "../errors/Errors.ts"
import { CurrentRecorder } from "../internal/recorder.ts"
import { computeReport } from "./internal/health.ts"
import { CurrentSystemSource } from "./internal/system.ts"

// ---------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------

/**
 * The outcome of one check: `skipped` when it cannot run (not installed, not permitted), `warning` makes
 * the service `degraded`, `critical` makes it `critical`.
 *
 * @category models
 * @since 0.1.0
 */
export type CheckStatus = "healthy" | "warning" | "critical" | "skipped"

/**
 * One check's status and a sentence saying why.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckResult {
  /** The check's status. */
  readonly status: CheckStatus
  /** Why, in one sentence. */
  readonly message: string
}

/**
 * The overall status: `degraded` when some check is at `warning`, `critical` when one is `critical`.
 *
 * @category models
 * @since 0.1.0
 */
export type HealthStatus = "healthy" | "degraded" | "critical"

/**
 * What the process and the machine look like. Bytes for memory; `cpuPercent` is the process's CPU time
 * over the time since the previous check, in percent of one core (`undefined` on the first check);
 * `systemMemory` and `loadAverage` are `undefined` without `--allow-sys` (see `notes`); `uptimeMs` is the
 * process uptime.
 *
 * @category models
 * @since 0.1.0
 */
export interface SystemMetrics {
  /** Resident set size of the process, in bytes. */
  readonly rssBytes: number
  /** V8 heap in use, in bytes. */
  readonly heapUsedBytes: number
  /** V8 heap reserved, in bytes. */
  readonly heapTotalBytes: number
  /** Memory of objects outside the V8 heap (buffers), in bytes. */
  readonly externalBytes: number
  /** System memory (needs `--allow-sys`). */
  readonly systemMemory:
    | { readonly totalBytes: number; readonly availableBytes: number; readonly usedPercent: number }
    | undefined
  /** 1, 5 and 15 minute load averages (needs `--allow-sys`). */
  readonly loadAverage: readonly [number, number, number] | undefined
  /** The process's CPU use since the previous check, in percent of one core. */
  readonly cpuPercent: number | undefined
  /** Requests running now. */
  readonly requestsInFlight: number
  /** Process uptime, in milliseconds. */
  readonly uptimeMs: number
  /** What could not be measured, and why. */
  readonly notes: ReadonlyArray<string>
}

/**
 * A health report. `timestamp` is epoch milliseconds.
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthReport {
  /** The overall status. */
  readonly status: HealthStatus
  /** When the checks ran, in epoch milliseconds. */
  readonly timestamp: number
  /** One result per check. */
  readonly checks: {
    readonly memory: CheckResult
    readonly budgets: CheckResult
    readonly errorRate: CheckResult
    readonly exporter: CheckResult
  }
  /** The numbers behind the checks. */
  readonly metrics: {
    readonly system: SystemMetrics
    readonly budgets: BudgetSummary
    readonly errors: ErrorSummary
  }
}

/**
 * Health options of `Telemetry.layer` (`health`). Environment: `STAGETRACE_HEALTH_MEMORY_WARNING_PERCENT`,
 * `STAGETRACE_HEALTH_MEMORY_CRITICAL_PERCENT`, `STAGETRACE_HEALTH_RSS_LIMIT` (bytes, or `512MiB`),
 * `STAGETRACE_HEALTH_ERROR_WARNING`, `STAGETRACE_HEALTH_ERROR_CRITICAL`, `STAGETRACE_HEALTH_WINDOW`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface HealthThresholds {
  /**
   * Memory in use (system memory, or process RSS against `rssLimit`) above which memory is a warning, in
   * percent.
   * @default 80
   */
  readonly memoryWarningPercent?: number | undefined
  /**
   * Memory in use above which memory is critical, in percent.
   * @default 90
   */
  readonly memoryCriticalPercent?: number | undefined
  /** Process RSS limit in bytes; when set, RSS is checked against it with the same percentages. */
  readonly rssLimit?: number | undefined
  /**
   * Errors in the window above which the error check is a warning.
   * @default 20
   */
  readonly errorWarning?: number | undefined
  /**
   * Errors in the window above which the error check is critical.
   * @default 50
   */
  readonly errorCritical?: number | undefined
  /**
   * The window the budget and error checks look at.
   * @default "1 hour"
   */
  readonly window?: Duration.Input | undefined
}

/**
 * Health options of `Telemetry.layer`.
 *
 * @category configuration
 * @since 0.1.0
 */
export interface HealthOptions {
  /** Thresholds of `Health.check`. */
  readonly health?: HealthThresholds | undefined
}

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
