/**
 * The health concern: validated thresholds on the recorder (`HealthSlot`) and the computation of a health
 * report from the machine (`SystemSource`), the budget and error windows and the export statistics. The
 * computation is synchronous, so `Health.handler` answers without running an effect.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { summaryAt as budgetSummaryAt } from "../../budget/internal/state.ts"
import { BudgetsSlot } from "../../budget/internal/state.ts"
import { summaryAt as errorSummaryAt } from "../../errors/internal/state.ts"
import { ErrorsSlot } from "../../errors/internal/state.ts"
import {
  type Env,
  envError,
  envNumber,
  firstSet,
  NonNegativeInt,
  option,
  optionalOption,
  optionError,
  positiveDurationOption,
  PositiveInt,
  type TelemetryConfigError,
} from "../../internal/config.ts"
import { envPositiveDuration } from "../../internal/envDuration.ts"
import { type Recorder, Slot } from "../../internal/recorder.ts"
import { ExportStatsSlot, RedactorSlot } from "../../internal/slots.ts"
import type { Concern } from "../../internal/concern.ts"
import type { CheckResult, CheckStatus, HealthOptions, HealthReport, SystemMetrics } from "./healthModel.ts"
import type { SystemSource } from "./system.ts"
import * as Schema from "effect/Schema"

/** Validated health thresholds. */
export interface HealthConfig {
  readonly memoryWarningPercent: number
  readonly memoryCriticalPercent: number
  readonly rssLimitBytes: number | undefined
  readonly errorWarning: number
  readonly errorCritical: number
  readonly windowMs: number
}

/** The seeds' thresholds. */
export const defaultHealthConfig: HealthConfig = {
  memoryWarningPercent: 80,
  memoryCriticalPercent: 90,
  rssLimitBytes: undefined,
  errorWarning: 20,
  errorCritical: 50,
  windowMs: 3_600_000,
}

/** The health concern's state: thresholds and the CPU reading of the previous check. */
export class HealthState {
  readonly config: HealthConfig
  lastCpu: { readonly micros: number; readonly atMs: number } | undefined

  constructor(config: HealthConfig) {
    this.config = config
  }
}

/** Where the health concern keeps its state. */
export const HealthSlot: Slot<HealthState> = new Slot<HealthState>("health")

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

const Percent: Schema.Codec<number, unknown> = Schema.Finite.check(
  Schema.isGreaterThan(0),
  Schema.isLessThanOrEqualTo(100),
) as unknown as Schema.Codec<number, unknown>

/**
 * A warning and a critical threshold (`health.<warning>`, `health.<critical>`): the critical one defaults
 * to at least the warning one, and may not be below it.
 */
const thresholds = (
  warning: "memoryWarningPercent" | "errorWarning",
  critical: "memoryCriticalPercent" | "errorCritical",
  schema: Schema.Codec<number, unknown>,
  value: NonNullable<HealthOptions["health"]>,
): Effect.Effect<readonly [warning: number, critical: number], TelemetryConfigError> =>
  Effect.gen(function* () {
    const d = defaultHealthConfig
    const warningValue = yield* option(`health.${warning}`, schema, value[warning], d[warning])
    const criticalValue = yield* option(
      `health.${critical}`,
      schema,
      value[critical],
      Math.max(d[critical], warningValue),
    )
    if (criticalValue < warningValue) {
      return yield* Effect.fail(
        optionError(`health.${critical}`, criticalValue, `Expected at least ${warning}`),
      )
    }
    return [warningValue, criticalValue] as const
  })

/** Validates the `health` option. */
export const validateHealth = (
  value: HealthOptions["health"],
): Effect.Effect<HealthConfig, TelemetryConfigError> =>
  Effect.gen(function* () {
    if (value === undefined) return defaultHealthConfig
    if (typeof value !== "object" || value === null) {
      return yield* Effect.fail(optionError("health", value, "Expected health options"))
    }
    const [memoryWarningPercent, memoryCriticalPercent] = yield* thresholds(
      "memoryWarningPercent",
      "memoryCriticalPercent",
      Percent,
      value,
    )
    const rssLimitBytes = yield* optionalOption("health.rssLimit", PositiveInt, value.rssLimit)
    const [errorWarning, errorCritical] = yield* thresholds(
      "errorWarning",
      "errorCritical",
      NonNegativeInt,
      value,
    )
    const windowMs = (yield* positiveDurationOption("health.window", value.window)) ??
      defaultHealthConfig.windowMs
    return {
      memoryWarningPercent,
      memoryCriticalPercent,
      rssLimitBytes,
      errorWarning,
      errorCritical,
      windowMs,
    }
  })

/** Environment variables of the health concern. */
export const healthVariables: ReadonlyArray<string> = [
  "STAGETRACE_HEALTH_MEMORY_WARNING_PERCENT",
  "STAGETRACE_HEALTH_MEMORY_CRITICAL_PERCENT",
  "STAGETRACE_HEALTH_RSS_LIMIT",
  "STAGETRACE_HEALTH_ERROR_WARNING",
  "STAGETRACE_HEALTH_ERROR_CRITICAL",
  "STAGETRACE_HEALTH_WINDOW",
]

const byteUnits: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
}

/** Parses a byte size: `536870912`, `512MiB`, `1.5GB`. */
export const parseBytes = (text: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  if (match === null) return undefined
  const unit = byteUnits[(match[2] || "b").toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Math.round(Number(match[1]) * unit)
  return bytes >= 1 && Number.isSafeInteger(bytes) ? bytes : undefined
}

/** Reads the health options from the environment. */
export const healthFromEnv = (env: Env): Effect.Effect<Partial<HealthOptions>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const health: Record<string, unknown> = {
      memoryWarningPercent: yield* envNumber(env, ["STAGETRACE_HEALTH_MEMORY_WARNING_PERCENT"], Percent),
      memoryCriticalPercent: yield* envNumber(env, ["STAGETRACE_HEALTH_MEMORY_CRITICAL_PERCENT"], Percent),
      errorWarning: yield* envNumber(env, ["STAGETRACE_HEALTH_ERROR_WARNING"], NonNegativeInt),
      errorCritical: yield* envNumber(env, ["STAGETRACE_HEALTH_ERROR_CRITICAL"], NonNegativeInt),
    }
    const rss = firstSet(env, ["STAGETRACE_HEALTH_RSS_LIMIT"])
    if (rss !== undefined) {
      const bytes = parseBytes(rss[1])
      if (bytes === undefined) {
        return yield* Effect.fail(
          envError(rss[0], rss[1], "Expected a byte size such as 536870912 or 512MiB"),
        )
      }
      health.rssLimit = bytes
    }
    health.window = yield* envPositiveDuration(
      env,
      ["STAGETRACE_HEALTH_WINDOW"],
      'Expected a duration such as "1 hour" or "60m"',
    )
    for (const key of Object.keys(health)) if (health[key] === undefined) delete health[key]
    return Object.keys(health).length > 0 ? { health: health as HealthOptions["health"] } : {}
  })

/** The health concern: validates thresholds and keeps them on the recorder. */
export const healthConcern: Concern<HealthOptions> = {
  name: "health",
  environmentVariables: healthVariables,
  fromEnv: healthFromEnv,
  install: (recorder, options) =>
    Effect.map(validateHealth(options.health), (config) => {
      recorder.set(HealthSlot, new HealthState(config))
      return {}
    }),
}

// ---------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------

const rank: Readonly<Record<CheckStatus, number>> = { skipped: 0, healthy: 1, warning: 2, critical: 3 }

const worst = (a: CheckStatus, b: CheckStatus): CheckStatus => (rank[b] > rank[a] ? b : a)

const byThreshold = (percent: number, config: HealthConfig): CheckStatus =>
  percent > config.memoryCriticalPercent
    ? "critical"
    : percent > config.memoryWarningPercent
    ? "warning"
    : "healthy"

const fixed = (n: number, digits: number = 1): number => Math.round(n * 10 ** digits) / 10 ** digits

const hourText = (ms: number): string =>
  ms === 3_600_000 ? "the last hour" : ms % 60_000 === 0 ? `the last ${ms / 60_000} min` : `the last ${ms} ms`

/** Computes a health report (synchronous; never throws on missing permissions). */
export const computeReport = (recorder: Recorder, nowMs: number, source: SystemSource): HealthReport => {
  let state = recorder.get(HealthSlot)
  if (state === undefined) {
    state = new HealthState(defaultHealthConfig)
    recorder.set(HealthSlot, state)
  }
  const config = state.config
  const notes: Array<string> = []

  // System metrics.
  const memory = source.memoryUsage()
  const system = source.systemMemory()
  const load = source.loadAverage()
  if (system === undefined) notes.push("system memory unavailable: run with --allow-sys to check it")
  if (load === undefined) notes.push("load average unavailable: run with --allow-sys to report it")
  const cpu = source.cpuUsage()
  let cpuPercent: number | undefined
  if (cpu !== undefined) {
    const micros = cpu.user + cpu.system
    const last = state.lastCpu
    if (last !== undefined && nowMs > last.atMs) {
      cpuPercent = fixed(((micros - last.micros) / 1000 / (nowMs - last.atMs)) * 100)
    }
    state.lastCpu = { micros, atMs: nowMs }
  }
  const systemMetrics: SystemMetrics = {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    systemMemory: system === undefined ? undefined : {
      totalBytes: system.total,
      availableBytes: system.available,
      usedPercent: system.total > 0 ? fixed(((system.total - system.available) / system.total) * 100) : 0,
    },
    loadAverage: load,
    cpuPercent,
    requestsInFlight: recorder.inFlight,
    uptimeMs: Math.round(source.uptimeSeconds() * 1000),
    notes,
  }

  // Memory check: system memory when readable, process RSS against its limit when configured.
  let memoryStatus: CheckStatus = "skipped"
  const memoryParts: Array<string> = []
  if (systemMetrics.systemMemory !== undefined) {
    memoryStatus = worst(memoryStatus, byThreshold(systemMetrics.systemMemory.usedPercent, config))
    memoryParts.push(`system memory ${systemMetrics.systemMemory.usedPercent}% used`)
  }
  if (config.rssLimitBytes !== undefined) {
    const percent = fixed((memory.rss / config.rssLimitBytes) * 100)
    memoryStatus = worst(memoryStatus, byThreshold(percent, config))
    memoryParts.push(`process RSS ${percent}% of its ${config.rssLimitBytes}-byte limit`)
  }
  const memoryCheck: CheckResult = memoryParts.length > 0
    ? { status: memoryStatus, message: memoryParts.join("; ") }
    : {
      status: "skipped",
      message: "system memory needs --allow-sys; set health.rssLimit to check process RSS instead",
    }

  // Budgets: any violation in the window is a warning (degraded).
  const budgetsState = recorder.get(BudgetsSlot)
  const budgets = budgetSummaryAt(budgetsState, config.windowMs, nowMs)
  const budgetsCheck: CheckResult = budgetsState === undefined
    ? { status: "skipped", message: "budgets not installed" }
    : budgets.totalViolations > 0
    ? {
      status: "warning",
      message: `${budgets.totalViolations} budget violation(s) in ${hourText(budgets.windowMs)}`,
    }
    : { status: "healthy", message: `no budget violation in ${hourText(budgets.windowMs)}` }

  // Errors: counts in the window, interruptions excluded.
  const errorsState = recorder.get(ErrorsSlot)
  const errors = errorSummaryAt(errorsState, config.windowMs, nowMs)
  const counted = errors.totalErrors - errors.byCategory.interrupted
  const errorCheck: CheckResult = errorsState === undefined
    ? { status: "skipped", message: "error classification not installed" }
    : {
      status: counted > config.errorCritical
        ? "critical"
        : counted > config.errorWarning
        ? "warning"
        : "healthy",
      message: `${counted} error(s) in ${
        hourText(errors.windowMs)
      } (warning above ${config.errorWarning}, critical above ${config.errorCritical})`,
    }

  // Exporter: read through the export concern's slot when it is installed. Error texts can carry URLs
  // with credentials or headers, and the report is served on a public endpoint: they are redacted.
  const exportStats = recorder.get(ExportStatsSlot)
  const redact = (text: string): string => {
    try {
      return recorder.get(RedactorSlot)?.redactString(text) ?? text
    } catch {
      return "[REDACTED]"
    }
  }
  let exporterCheck: CheckResult = { status: "skipped", message: "not configured" }
  if (exportStats !== undefined) {
    try {
      const s = exportStats()
      const failedLast = s.lastFailureAt !== undefined &&
        (s.lastSuccessAt === undefined || s.lastFailureAt > s.lastSuccessAt)
      const fill = s.capacity > 0 ? s.queued / s.capacity : 0
      exporterCheck = failedLast
        ? {
          status: "warning",
          message: `last export failed${s.lastError !== undefined ? `: ${redact(s.lastError)}` : ""}`,
        }
        : fill >= 0.9
        ? { status: "warning", message: `export queue ${Math.round(fill * 100)}% full` }
        : { status: "healthy", message: `${s.failures} failed export(s), ${s.queued}/${s.capacity} queued` }
    } catch (error) {
      exporterCheck = {
        status: "warning",
        message: `export statistics unavailable: ${redact(String(error))}`,
      }
    }
  }

  const checks = {
    memory: memoryCheck,
    budgets: budgetsCheck,
    errorRate: errorCheck,
    exporter: exporterCheck,
  }
  let overall: CheckStatus = "healthy"
  for (const check of Object.values(checks)) overall = worst(overall, check.status)
  return {
    status: overall === "critical" ? "critical" : overall === "warning" ? "degraded" : "healthy",
    timestamp: nowMs,
    checks,
    metrics: { system: systemMetrics, budgets, errors },
  }
}
