/**
 * The budget concern of `Telemetry.layer`: validates the `budgets` table, keeps `BudgetsState` on the
 * recorder and checks every stage (stage-end hook) and request (request-end hook) against its budget —
 * the stage's or request's own `budget` option, else the table entry for its id or name.
 *
 * A stage without a budget costs a field read here (plus a `Map` lookup when the table is not empty).
 * A violation marks the stage and the request, adds a `budget.exceeded` span event, updates the window
 * and the counter, and queues a warning for the background logger: synchronous, bounded, no effect run.
 *
 * @internal
 */
import { budgetViolationsMetric } from "../../internal/sharedMetrics.ts"
import * as Effect from "effect/Effect"
import * as BackgroundLog from "../../internal/backgroundLog.ts"
import {
  type Env,
  envError,
  firstSet,
  optionError,
  parseKeyValueList,
  positiveDurationOption,
  type TelemetryConfigError,
} from "../../internal/config.ts"
import { makeCounterFamily } from "../../internal/counterFamily.ts"
import { durationFromEnv } from "../../internal/envDuration.ts"
import type { Recorder, RequestEndHook, StageEndHook } from "../../internal/recorder.ts"
import type { Concern } from "../../internal/concern.ts"
import type { BudgetOptions, BudgetViolation } from "../Budgets.ts"
import { BudgetsSlot, BudgetsState } from "./state.ts"

/** Violation warnings waiting for the background logger. */
const logCapacity = 1024

/** Environment variables of the budget concern. */
export const budgetVariables: ReadonlyArray<string> = ["STAGETRACE_BUDGETS"]

// ---------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------

const validateTable = (
  value: BudgetOptions["budgets"],
): Effect.Effect<ReadonlyMap<string, number>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const table = new Map<string, number>()
    if (value === undefined) return table
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return yield* Effect.fail(optionError("budgets", value, "Expected a record of stage ids to durations"))
    }
    for (const [id, budget] of Object.entries(value)) {
      if (budget === undefined) continue
      const ms = yield* positiveDurationOption(`budgets.${id}`, budget)
      if (ms !== undefined) table.set(id, ms)
    }
    return table
  })

/** Reads `STAGETRACE_BUDGETS` (`auth_check=1ms,kb_access=2 seconds,chat=3s`). */
export const budgetsFromEnv = (env: Env): Effect.Effect<Partial<BudgetOptions>, TelemetryConfigError> =>
  Effect.gen(function* () {
    const raw = firstSet(env, ["STAGETRACE_BUDGETS"])
    if (raw === undefined) return {}
    const [name, text] = raw
    const pairs = yield* parseKeyValueList(name, text)
    const budgets: Record<string, number> = {}
    for (const [id, value] of Object.entries(pairs)) {
      const ms = durationFromEnv(value)
      if (ms === undefined || !(ms > 0)) {
        return yield* Effect.fail(
          envError(name, text, `Expected a positive duration for ${id} (250, 250ms, 2s, "2 seconds")`),
        )
      }
      budgets[id] = ms
    }
    return { budgets }
  })

// ---------------------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------------------

const makeViolation = (
  stageId: string,
  requestId: string | undefined,
  budgetMs: number,
  actualMs: number,
  timestamp: number,
): BudgetViolation => {
  const overageMs = actualMs - budgetMs
  return {
    stageId,
    requestId,
    budgetMs,
    actualMs,
    overageMs,
    overagePercent: (overageMs / budgetMs) * 100,
    timestamp,
  }
}

const eventAttributes = (v: BudgetViolation): Record<string, unknown> => ({
  "stage.id": v.stageId,
  ...(v.requestId !== undefined ? { "request.id": v.requestId } : {}),
  "budget.ms": v.budgetMs,
  "budget.actual_ms": v.actualMs,
  "budget.overage_ms": v.overageMs,
  "budget.overage_percent": v.overagePercent,
})

/** The stage-end hook: the stage's own budget, else the table's entry for its id. */
export const stageEndHook = (state: BudgetsState, recorder: Recorder): StageEndHook => {
  const table = state.table
  const hasTable = table.size > 0
  return (node, _exit, durationMs) => {
    let budget = node.budgetMs
    if (budget === undefined) {
      if (!hasTable) return
      budget = table.get(node.exec.stageId)
      if (budget === undefined) return
    }
    if (!(budget > 0)) {
      recorder.countDrop("invalid_budget")
      return
    }
    const request = node.request
    const live = request === undefined || !request.closed
    const exec = node.exec
    const over = durationMs > budget
    if (live) {
      exec.budgetMs = budget
      exec.overBudget = over
    }
    if (!over) return
    const span = node.span
    const violation = makeViolation(
      exec.stageId,
      request?.requestId,
      budget,
      durationMs,
      node.timeline.millis(node.endAt),
    )
    if (live && request !== undefined) request.overBudget = true
    span.attribute("stagetrace.over_budget", true)
    span.event("budget.exceeded", node.endNanos, eventAttributes(violation))
    state.record(violation, span.traceId, span.spanId)
  }
}

/** The request-end hook: the request's own budget, else the table's entry for its name. */
export const requestEndHook = (state: BudgetsState, recorder: Recorder): RequestEndHook => {
  const table = state.table
  const hasTable = table.size > 0
  return (record, summary) => {
    const budget = record.budgetMs ?? (hasTable ? table.get(record.name) : undefined)
    if (budget === undefined) return
    if (!(budget > 0)) {
      recorder.countDrop("invalid_budget")
      return
    }
    summary.budgetMs = budget
    if (!(summary.durationMs > budget)) return
    const endMs = record.startTime + summary.durationMs
    const violation = makeViolation(record.name, record.requestId, budget, summary.durationMs, endMs)
    record.overBudget = true
    summary.overBudget = true
    const span = record.span
    span.attribute("stagetrace.over_budget", true)
    span.event(
      "budget.exceeded",
      record.startNanos + BigInt(Math.round(summary.durationMs * 1_000_000)),
      eventAttributes(violation),
    )
    state.record(violation, span.traceId, span.spanId)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Concern
// ---------------------------------------------------------------------------------------------------------

const install = (recorder: Recorder, options: BudgetOptions) =>
  Effect.gen(function* () {
    const table = yield* validateTable(options.budgets)
    const maxStages = recorder.config.maxStageIds
    const counter = yield* makeCounterFamily(
      budgetViolationsMetric.name,
      budgetViolationsMetric.description,
      [...budgetViolationsMetric.labels],
      maxStages,
    )
    const state = new BudgetsState(table, maxStages, counter)
    state.log = yield* BackgroundLog.make(recorder, logCapacity, "budget_log_full")
    recorder.set(BudgetsSlot, state)
    recorder.stageEnd.push(stageEndHook(state, recorder))
    recorder.requestEnd.push(requestEndHook(state, recorder))
    return {}
  })

/** The budget concern (per-stage and per-request latency budgets). */
export const budgetsConcern: Concern<BudgetOptions> = {
  name: "budgets",
  environmentVariables: budgetVariables,
  fromEnv: budgetsFromEnv,
  install,
}
