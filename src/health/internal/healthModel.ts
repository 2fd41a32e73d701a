/**
 * The public models of `Health`, declared below the public module so that the health machinery reads them
 * without importing `Health.ts` back. `Health.ts` re-exports this module whole (`export *`), so everything
 * exported here is public as `Health.<name>`.
 *
 * @module
 */
import type * as Duration from "effect/Duration"
import type { BudgetSummary } from "../../budget/Budgets.ts"
import type { ErrorSummary } from "../../errors/Errors.ts"

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
